"""The petition page, the sign form, confirming, sharing, the widget and the rate limit."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from objectwar.extensions import db as _db
from objectwar.petitions.models import Petition, PetitionStatus, Signature
from tests.helpers import link_in
from tests.signing_support import (
    API_URL,
    SIGN_URL,
    SLUG,
    form_data,
    hidden_fields,
    person,
    sign_form,
)

PAGE = f"/petitions/{SLUG}"


@pytest.fixture
def app_overrides() -> dict:
    return {"SIGN_MIN_FILL_SECONDS": 0}


def count_rows(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.count()).select_from(Signature))


def petition_count(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(Petition.signature_count).where(Petition.slug == SLUG))


def close_petition(app) -> None:
    with app.app_context():
        _db.session.scalar(select(Petition).where(Petition.slug == SLUG)).status = PetitionStatus.CLOSED
        _db.session.commit()


# -- the page ---------------------------------------------------------------------------


def test_petition_page_has_everything(client, demo):
    response = client.get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Protection and asylum for those who refuse to fight" in page
    positions = [page.index(title) for title in ("Humanitarian visas", "No pushbacks",
                                                 "Protection for draft evaders", "A reception programme")]
    assert positions == sorted(positions)
    assert '<progress class="progress" max="100000" value="0"' in page
    assert 'action="/petitions/protect-objectors/sign#sign"' in page
    for name in ("first_name", "last_name", "email", "country", "consent", "updates",
                 "public_name", "locale", "stamp", "website"):
        assert f'name="{name}"' in page
    assert 'name="csrf_token"' not in page  # see test_form_needs_no_session
    assert "Set-Cookie" not in response.headers
    assert '<option value="UA">Ukraine<option' in page
    for network in ("email", "telegram", "whatsapp", "bluesky", "x", "facebook"):
        assert f'href="/petitions/{SLUG}/share/{network}"' in page
    assert f'action="/petitions/{SLUG}/share/mastodon"' in page
    assert f"&lt;iframe src=&#34;https://objectwar.test/petitions/{SLUG}/embed&#34;" in page
    assert "<script" not in page and "style=" not in page


def test_petition_page_in_the_visitors_language(client, demo):
    page = client.get(PAGE + "?lang=de").get_data(as_text=True)
    assert "Schutz und Asyl" in page
    assert '<option value="DE">Deutschland<option' in page
    assert '<input type="hidden" name="locale" value="de">' in page


def test_unknown_and_draft_petitions_are_404(app, client, demo):
    assert client.get("/petitions/nope").status_code == 404
    assert client.post("/petitions/nope/sign", data={}).status_code in (400, 404)
    with app.app_context():
        _db.session.add(Petition(slug="draft", status=PetitionStatus.DRAFT))
        _db.session.commit()
    assert client.get("/petitions/draft").status_code == 404
    assert client.get("/petitions/draft/embed").status_code == 404


def test_closed_petition_shows_result_and_takes_no_signatures(app, client, demo):
    page = client.get(PAGE).get_data(as_text=True)
    close_petition(app)
    closed = client.get(PAGE).get_data(as_text=True)
    assert "This petition is closed" in closed
    assert "It was signed by 0 people." in closed
    assert 'name="first_name"' not in closed
    response = client.post(SIGN_URL, data=form_data(page))
    assert response.status_code == 422
    assert "closed and no longer takes signatures" in response.get_data(as_text=True)
    api = client.post(API_URL, json=person())
    assert api.status_code == 422
    assert "closed" in api.get_json()["errors"]["request"][0]
    assert count_rows(app) == 0


# -- signing through the form ------------------------------------------------------------


def test_sign_redirects_to_check_your_inbox(app, client, demo, outbox):
    response = sign_form(client)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/petitions/{SLUG}/signed"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Check your inbox" in page
    assert "The email comes from “Confirmation” with the subject “Please confirm your signature”" in page
    assert "class=\"notice\"" not in page
    assert count_rows(app) == 1
    assert len(outbox) == 1  # TASKS_IMMEDIATE: the queued task ran


def test_repeat_signer_gets_the_same_answer(app, client, demo, outbox):
    first = sign_form(client)
    again = sign_form(client, email=" ANNA@example.org", first_name="Someone")
    assert (again.status_code, again.headers["Location"]) == (first.status_code, first.headers["Location"])
    assert count_rows(app) == 1
    assert len(outbox) == 2


@pytest.mark.parametrize("changes, field, message", [
    ({"first_name": ""}, "first_name", "This field is required."),
    ({"first_name": "A\u202eB"}, "first_name", "Remove the control characters from this field."),
    ({"last_name": "x" * 101}, "last_name", "Use at most 100 characters."),
    ({"last_name": None}, "last_name", "This field is required."),
    ({"email": "anna@"}, "email", "This does not look like an email address."),
    ({"country": "XX"}, "country", "Choose a country from the list."),
    ({"consent": None}, "consent", "Please agree to how we use your data; we cannot count your signature without it."),
    ({"locale": "fr"}, "locale", "Choose one of the languages offered."),
    ({"organisation": "nobody"}, "organisation", "This organisation is not a member of the campaign."),
])
def test_form_errors_are_shown_at_the_field(app, client, demo, outbox, changes, field, message):
    response = sign_form(client, **changes)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in page
    # What was typed is kept (except the faulty organisation, which the signer cannot fix).
    if field != "first_name":
        assert 'value="Anna"' in page
    if field == "organisation":
        assert 'name="organisation"' not in page
    assert count_rows(app) == 0
    assert outbox == []


def test_form_needs_no_session(app, demo, outbox):
    """No CSRF token: the public API already lets any site sign; the email confirms."""
    page = app.test_client().get(PAGE).get_data(as_text=True)
    fresh = app.test_client()  # no cookie at all, as from a browser that refuses them
    response = fresh.post(SIGN_URL, data=form_data(page))
    assert response.status_code == 302
    assert "/signed" in response.headers["Location"]
    assert count_rows(app) == 1
    assert "Set-Cookie" not in response.headers


def test_risky_provider_notice_on_the_answer_page(app, client, demo):
    response = sign_form(client, email="anna@yandex.ru")
    assert response.headers["Location"].endswith("?notice=provider")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "consider using an address at another provider" in page
    assert count_rows(app) == 1


def test_org_in_the_address_credits_a_member(app, client, demo):
    page = client.get(PAGE + "?org=connection-ev").get_data(as_text=True)
    assert "Your signature is counted for Connection e.V." in page
    assert sign_form(client, PAGE + "?org=connection-ev").status_code == 302
    with app.app_context():
        assert _db.session.scalar(select(Signature)).organisation.slug == "connection-ev"


# -- bots --------------------------------------------------------------------------------


def test_honeypot_gets_the_normal_answer_and_stores_nothing(app, client, demo, outbox):
    response = sign_form(client, website="http://spam.example")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/petitions/{SLUG}/signed"
    assert count_rows(app) == 0
    assert outbox == []


ASK_AGAIN = "Nothing is saved yet: please check your details and press Sign again."


def test_forged_or_missing_stamp_stores_nothing_and_asks_again(app, client, demo, outbox):
    for stamp in ("forged", None):
        response = sign_form(client, stamp=stamp)
        assert response.status_code == 200
        assert ASK_AGAIN in response.get_data(as_text=True)
    assert count_rows(app) == 0
    assert outbox == []


def test_a_stamp_of_last_year_is_asked_again_the_same_gentle_way(app, client, demo, outbox):
    import time
    from unittest import mock

    with app.app_context(), mock.patch("time.time", return_value=time.time() - 365 * 24 * 3600):
        from objectwar.petitions import signing

        old_stamp = signing.form_stamp()
    response = sign_form(client, stamp=old_stamp)
    assert response.status_code == 200
    assert ASK_AGAIN in response.get_data(as_text=True)
    assert count_rows(app) == 0
    again = form_data(response.get_data(as_text=True))
    assert client.post(SIGN_URL, data=again).status_code == 302
    assert count_rows(app) == 1


def test_a_page_served_before_the_stamp_format_changed_still_signs(app, client, demo, outbox):
    import time

    from objectwar import security
    from objectwar.petitions import signing

    with app.app_context():
        old_stamp = security.make_token(signing.FORM_PURPOSE, int(time.time()) - 60)
    assert sign_form(client, stamp=old_stamp).status_code == 302
    assert count_rows(app) == 1


def test_too_fast_keeps_the_values_asks_again_and_the_second_press_signs(app, client, demo, outbox):
    app.config["SIGN_MIN_FILL_SECONDS"] = 3
    response = sign_form(client, f"/petitions/{SLUG}?org=ebco", email="quick@example.org",
                         public_name="y")
    assert response.status_code == 200  # not the "check your inbox" page
    page = response.get_data(as_text=True)
    assert ASK_AGAIN in page and "Please correct the errors below." not in page
    assert 'value="quick@example.org"' in page and 'value="Anna"' in page
    assert '<option value="DE" selected>' in page
    assert hidden_fields(page)["organisation"] == "ebco"
    assert count_rows(app) == 0 and outbox == []
    # At once, as a person presses the button again: the form shown again is not "too fast".
    response = client.post(SIGN_URL, data=form_data(page, email="quick@example.org"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/petitions/{SLUG}/signed"
    assert count_rows(app) == 1
    assert len(outbox) == 1


# -- confirming --------------------------------------------------------------------------


def test_confirm_page_get_and_head_change_nothing_post_confirms(app, client, demo, outbox):
    sign_form(client, public_name="y")
    path = link_in(outbox[0].body)
    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200
        assert "Confirm my signature" in response.get_data(as_text=True)
        assert client.head(path).status_code == 200
    assert petition_count(app) == 0
    page = client.get(path).get_data(as_text=True)
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(path, data={"csrf_token": csrf_token})
    assert response.status_code == 200
    assert "your signature is confirmed" in response.get_data(as_text=True)
    assert petition_count(app) == 1
    # Idempotent: a second press, or the page again, counts nothing more.
    assert client.post(path, data={"csrf_token": csrf_token}).status_code == 200
    assert "already confirmed" in client.get(path).get_data(as_text=True)
    assert petition_count(app) == 1
    page = client.get(PAGE).get_data(as_text=True)
    assert "Anna M." in page and "Müller" not in page
    assert '<progress class="progress" max="100000" value="1"' in page
    assert "anna@example.org" not in page


def test_confirm_post_needs_csrf(app, client, demo, outbox):
    sign_form(client)
    response = client.post(link_in(outbox[0].body))
    assert response.status_code == 400
    assert petition_count(app) == 0


def test_forged_link_gets_a_clear_page(client, demo, outbox):
    sign_form(client)
    path = link_in(outbox[0].body)
    for bad in (path + "x", path.rsplit("/", 1)[0] + "/nonsense"):
        response = client.get(bad)
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert "not valid or has expired" in page
        assert "anna" not in page.lower()
        assert client.post(bad, data={}).status_code in (400, 404)


# -- sharing -------------------------------------------------------------------------------


def test_share_links_redirect_to_plain_urls(client, demo):
    response = client.get(f"/petitions/{SLUG}/share/whatsapp")
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert target.netloc == "wa.me"
    assert "https://objectwar.test/petitions/protect-objectors" in parse_qs(target.query)["text"][0]
    stamp = hidden_fields(client.get(f"/petitions/{SLUG}").get_data(as_text=True))["stamp"]
    share_url = f"/petitions/{SLUG}/share/mastodon"
    mastodon = client.post(share_url, data={"stamp": stamp, "instance": "chaos.social"})
    # A page of ours goes on by a refresh: the page's form-action 'self' holds for a redirect.
    assert mastodon.status_code == 200 and "Location" not in mastodon.headers
    assert re.search(r'<meta http-equiv="refresh" content="0; url=https://chaos\.social/share\?text=',
                     mastodon.get_data(as_text=True))
    assert client.post(share_url, data={"stamp": stamp, "instance": ""}).status_code == 422
    # A crafted link cannot send visitors to a server of someone else's choosing:
    # only a POST from a page we served (its signed stamp) is followed.
    assert client.get(f"{share_url}?instance=evil.example").status_code == 404
    for forged in ({}, {"stamp": "forged"}, {"stamp": stamp[:-2] + "xx"}):
        response = client.post(share_url, data={**forged, "instance": "evil.example"})
        assert response.status_code == 400
        assert "Location" not in response.headers
    assert client.get(f"/petitions/{SLUG}/share/myspace").status_code == 404


# -- the widget ------------------------------------------------------------------------------


def test_embed_page_may_be_framed_and_posts_without_session(app, demo, outbox):
    client = app.test_client()
    response = client.get(f"/petitions/{SLUG}/embed?org=pro-asyl")
    assert response.status_code == 200
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    page = response.get_data(as_text=True)
    assert 'name="embed" value="1"' in page
    assert 'name="csrf_token"' not in page
    assert "Our demands" not in page and "site-header" not in page
    assert "Set-Cookie" not in response.headers  # nothing for a third-party frame to keep
    # A frame on another site sends no first-party cookie: a fresh client.
    fresh = app.test_client()
    answer = fresh.post(SIGN_URL, data=form_data(page))
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/petitions/{SLUG}/signed?embed=1"
    signed = fresh.get(answer.headers["Location"])
    assert "frame-ancestors *" in signed.headers["Content-Security-Policy"]
    assert "site-header" not in signed.get_data(as_text=True)
    with app.app_context():
        assert _db.session.scalar(select(Signature)).organisation.slug == "pro-asyl"
    errors = fresh.post(SIGN_URL, data=form_data(page, email="x"))
    assert errors.status_code == 422
    assert "frame-ancestors *" in errors.headers["Content-Security-Policy"]
    assert "site-header" not in errors.get_data(as_text=True)


def test_other_pages_may_not_be_framed(client, demo):
    assert client.get(PAGE).headers["X-Frame-Options"] == "DENY"


# -- rate limit ------------------------------------------------------------------------------


@pytest.mark.parametrize("app_overrides", [{"SIGN_RATE_LIMIT": "3 per minute",
                                            "SIGN_MIN_FILL_SECONDS": 0}])
def test_rate_limit_is_shared_by_form_and_api(app, client, demo):
    assert sign_form(client, email="a@example.org").status_code == 302
    assert client.post(API_URL, json=person(email="b@example.org")).status_code == 202
    assert sign_form(client, email="c@example.org").status_code == 302
    # Reading pages does not count.
    assert client.get(PAGE).status_code == 200
    limited = sign_form(client, email="d@example.org")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert "Please wait a moment" in limited.get_data(as_text=True)
    api = client.post(API_URL, json=person(email="e@example.org"))
    assert api.status_code == 429
    assert int(api.headers["Retry-After"]) > 0
    assert api.get_json() == {"errors": {"request": [
        "Too many requests. Please wait a moment and try again."]}}
    # Another client address has its own allowance.
    other = client.post(API_URL, json=person(email="f@example.org"),
                        environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 202
    assert count_rows(app) == 4


def test_limiter_key_is_a_keyed_digest(app):
    from objectwar.ratelimit import client_key

    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        key = client_key()
    assert "203.0.113" not in key
    assert re.fullmatch(r"client:[0-9a-f]{64}", key)

