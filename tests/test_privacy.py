"""Asking for a copy or the erasure of one's data (``/my-data``) and the services behind it."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from objectwar import security
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing.models import (
    Delivery,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionReason,
)
from objectwar.mailouts import editing
from objectwar.petitions.models import Petition, Signature
from objectwar.privacy import services as privacy
from tests.helpers import csrf_token, link_in
from tests.signing_support import SLUG, sign_form

PAGE = f"/petitions/{SLUG}"
ANNA = "anna@example.org"


@pytest.fixture
def app_overrides(request) -> dict:
    """No fill-time wait; mail to the real SMTP server for the tests that ask for one."""
    overrides = {"SIGN_MIN_FILL_SECONDS": 0}
    if "smtp_server" in request.fixturenames:
        overrides.update(request.getfixturevalue("smtp_server").config())
    return overrides


def sign_and_confirm(client, outbox, email: str = ANNA, **changes) -> None:
    """Sign the demo petition through its form and press the button of the confirmation link."""
    before = len(outbox)
    sign_form(client, email=email, **changes)
    path = link_in(outbox[before].body)
    client.post(path, data={"csrf_token": csrf_token(client, path)})


def petition_count(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(Petition.signature_count).where(Petition.slug == SLUG))


def count(app, model) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.count()).select_from(model))


def erase_token(app, email: str = ANNA) -> str:
    with app.app_context():
        return privacy.link_token(security.email_digest(email), privacy.DataAction.ERASE)


def export_token(app, email: str = ANNA) -> str:
    with app.app_context():
        return privacy.link_token(security.email_digest(email), privacy.DataAction.EXPORT)


@pytest.fixture
def anna(app, client, demo, outbox):
    """Anna signed and confirmed with updates (so she is on the list), and a mail-out reached her;
    Bob signed too, confirmed; Carl signed without confirming."""
    sign_and_confirm(client, outbox, updates="y", public_name="y")
    sign_and_confirm(client, outbox, email="bob@example.org", first_name="Bob")
    sign_form(client, email="carl@example.org", first_name="Carl")
    with app.app_context():
        mailout = editing.create_mailout({"list": "updates", "subject": "S", "body_markdown": "B"})
        subscriber = _db.session.scalar(select(Subscriber))
        _db.session.add(Delivery(mailout_id=mailout.id, subscriber_id=subscriber.id))
        _db.session.commit()
    outbox.clear()


# -- services --------------------------------------------------------------------------


def test_export_decrypts_what_is_held(app, anna):
    with app.app_context():
        held = privacy.export(security.email_digest(" Anna@Example.org"))
    (signature,) = held["signatures"]
    assert signature["first_name"] == "Anna" and signature["last_name"] == "Müller"
    assert signature["email"] == ANNA and signature["country"] == "DE"
    assert signature["confirmed_at"] and signature["public_name"] is True
    assert signature["wants_updates"] is True
    assert signature["petition"]
    assert held["subscriber"]["subscriptions"][0]["status"] == "subscribed"
    json.dumps(held)  # plain values only


def test_a_count_back_at_an_old_value_is_a_new_state(app, client, anna, outbox):
    """A page cached in any process when the count was 2 showed Anna; after Dan
    confirms and Anna erases, the count is 2 again, and the state must differ."""
    from objectwar.petitions.services import get_public_petition

    def key() -> tuple:
        with app.test_request_context():
            return get_public_petition(SLUG).cache_key

    seen = {key()}
    sign_and_confirm(client, outbox, email="dan@example.org", first_name="Dan", public_name="y")
    seen.add(key())
    with app.app_context():
        privacy.erase(erase_token(app))
    assert petition_count(app) == 2
    assert key() not in seen
    with app.app_context():
        assert _db.session.scalar(select(Petition.erased_count).where(Petition.slug == SLUG)) == 1
    page = client.get(PAGE).get_data(as_text=True)
    assert "Anna M." not in page
    assert "Dan M." in page


def test_export_of_an_unknown_address_is_empty(app, anna):
    with app.app_context():
        digest = security.email_digest("nobody@example.org")
        assert privacy.export(digest) == {"signatures": [], "subscriber": None}
        assert not privacy.holds_data(digest)
        assert privacy.link_for("nobody@example.org", privacy.DataAction.EXPORT) is None


def test_erase_removes_everything_and_counts_exactly(app, anna):
    assert petition_count(app) == 2
    with app.app_context():
        counts = privacy.erase(erase_token(app))
    assert counts == {"signatures": 1, "confirmed": 1, "subscribers": 1, "subscriptions": 1,
                      "deliveries": 1}
    assert petition_count(app) == 1
    assert count(app, Signature) == 2  # Bob's and Carl's stay
    assert count(app, Subscriber) == count(app, Subscription) == count(app, Delivery) == 0
    with app.app_context():
        (suppression,) = _db.session.scalars(select(Suppression)).all()
        assert suppression.email_digest == security.email_digest(ANNA)
        assert suppression.reason == SuppressionReason.ERASED and suppression.list_id is None
        (event,) = _db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
        text = json.dumps(event.details).lower()
        assert "anna" not in text and "müller" not in text and "example.org" not in text
        assert event.details["signatures"] == 1
        # Twice: nothing more goes, nothing breaks.
        assert not any(privacy.erase(erase_token(app)).values())
    assert petition_count(app) == 1
    assert count(app, Suppression) == 1


def test_erasing_an_unconfirmed_signature_leaves_the_count(app, anna):
    with app.app_context():
        counts = privacy.erase(erase_token(app, "carl@example.org"))
    assert counts["signatures"] == 1 and counts["confirmed"] == 0
    assert petition_count(app) == 2


def test_an_export_link_erases_nothing(app, anna):
    with app.app_context(), pytest.raises(privacy.NotFound):
        privacy.erase(export_token(app))
    assert count(app, Signature) == 3


# -- the request form -----------------------------------------------------------------------


def ask(client, email: str, action: str | None = "export"):
    data = {"csrf_token": csrf_token(client, "/my-data"), "email": email}
    if action is not None:
        data["action"] = action
    return client.post("/my-data", data=data)


def test_form_page_explains_both_choices(client, app):
    page = client.get("/my-data").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert 'value="export"' in page and 'value="erase"' in page
    assert "write to the campaign" in page
    assert "/my-data" in client.get("/").get_data(as_text=True)  # the footer links it


@pytest.mark.parametrize(("email", "action", "field"), [
    ("not an address", "export", "does not look like an email address"),
    ("", "erase", "This field is required"),
    (ANNA, None, "Choose what we should do"),
    (ANNA, "everything", "Choose what we should do"),
])
def test_bad_input_shows_messages_and_queues_nothing(client, app, outbox, email, action, field):
    response = ask(client, email, action)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field in page and 'class="field-error"' in page
    assert count(app, Notice) == 0 and outbox == []


def test_same_answer_for_known_and_unknown_and_the_email_says_the_truth(client, app, anna, outbox):
    known = ask(client, ANNA)
    unknown = ask(client, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert "may take a few minutes" in known.get_data(as_text=True)
    # Once sent, the rows go: they hold the address of someone who may want to be forgotten.
    assert count(app, Notice) == 0
    to_anna, to_nobody = outbox
    assert to_anna.recipients == [ANNA] and to_nobody.recipients == ["nobody@example.org"]
    assert to_anna.subject == to_nobody.subject == "Your request about your data"
    assert "https://objectwar.test/my-data/" in to_anna.body and "/my-data/" in to_anna.html
    assert "/my-data/" not in to_nobody.body and "/my-data/" not in to_nobody.html
    assert "We hold no signatures" in to_nobody.body


def test_the_email_is_in_the_requesters_language(client, app, anna, outbox):
    client.get("/my-data?lang=de")
    ask(client, ANNA, "erase")
    (message,) = outbox
    assert "Hallo" in message.body or "Guten" in message.body
    assert message.subject != "Your request about your data"


def test_post_without_csrf_token_is_refused(client, app, outbox):
    response = client.post("/my-data", data={"email": ANNA, "action": "export"})
    assert response.status_code == 400
    assert count(app, Notice) == 0
    response = client.post(f"/my-data/{erase_token(app)}")
    assert response.status_code == 400


def test_three_emails_of_each_kind_per_address_a_day_and_nobody_is_told(client, app, outbox):
    app.config["DATA_REQUEST_RATE_LIMIT"] = "100 per hour"
    first = ask(client, "Someone@example.org")
    for _ in range(2):
        ask(client, "someone@example.org")
    assert len(outbox) == 3
    # Past the budget: the same answer, no Retry-After that would date the earlier
    # requests, and no email.
    over = ask(client, "someone@example.org")
    assert over.status_code == 200 and "Retry-After" not in over.headers
    assert over.get_data(as_text=True) == first.get_data(as_text=True)
    assert len(outbox) == 3
    with app.app_context():
        assert count(app, Notice) == 0
    # Requests for copies cannot hold off the owner's erasure, nor another address.
    assert ask(client, "someone@example.org", "erase").status_code == 200
    assert ask(client, "other@example.org").status_code == 200
    assert len(outbox) == 5
    assert "/my-data" in outbox[3].body or "nothing to erase" in outbox[3].body


def test_requests_per_client_address(client, app, outbox):
    app.config["DATA_REQUEST_RATE_LIMIT"] = "2 per hour"
    assert ask(client, "a@example.org").status_code == 200
    assert ask(client, "b@example.org").status_code == 200
    assert ask(client, "c@example.org").status_code == 429
    assert client.get("/my-data").status_code == 200


# -- the links -------------------------------------------------------------------------------


def email_link(client, outbox, action: str) -> str:
    ask(client, ANNA, action)
    match = re.search(r"https://objectwar\.test(/my-data/\S+)", outbox[-1].body)
    assert match, outbox[-1].body
    return match.group(1)


def test_export_page_and_json_download(client, app, anna, outbox):
    path = email_link(client, outbox, "export")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Anna" in page and "Müller" in page and "subscribed" in page
    assert f'{path}/data.json' in page
    # Readable, in the visitor's language: names of countries and languages, dates, statuses.
    german = client.get(path + "?lang=de").get_data(as_text=True)
    assert "Deutschland" in german and "abonniert" in german and "(UTC)" in german
    assert not re.search(r"\d{4}-\d\d-\d\dT", german)  # no raw ISO times
    download = client.get(path + "/data.json")
    assert download.status_code == 200
    assert download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Disposition"].startswith("attachment")
    data = download.get_json()
    assert data["signatures"][0]["last_name"] == "Müller"
    assert data["subscriber"]["email"] == ANNA


@pytest.mark.parametrize("make_bad", [
    lambda token, app: token + "x",
    lambda token, app: token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"),
    lambda token, app: "nonsense",
    lambda token, app: _other_purpose(app),
])
def test_bad_links_get_the_not_valid_page(client, app, anna, make_bad):
    bad = make_bad(export_token(app), app)
    for path in (f"/my-data/{bad}", f"/my-data/{bad}/data.json"):
        response = client.get(path)
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert "not valid" in page and "Anna" not in page
    token = csrf_token(client, "/my-data")
    assert client.post(f"/my-data/{bad}", data={"csrf_token": token}).status_code == 404
    assert count(app, Signature) == 3


def _other_purpose(app) -> str:
    with app.app_context():
        return security.make_token("reset", {"d": security.email_digest(ANNA), "a": "erase"})


def test_expired_link(client, app, anna, monkeypatch):
    token = export_token(app)
    monkeypatch.setattr(privacy, "TOKEN_MAX_AGE", -1)
    assert client.get(f"/my-data/{token}").status_code == 404


def test_an_export_link_does_not_erase_nor_an_erase_link_download(client, app, anna):
    token = csrf_token(client, "/my-data")
    assert client.post(f"/my-data/{export_token(app)}", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/my-data/{erase_token(app)}/data.json").status_code == 404
    assert count(app, Signature) == 3


def test_erase_link_get_changes_nothing_post_erases_and_the_page_count_drops(client, app, anna, outbox):
    assert '<progress class="progress" max="100000" value="2"' in client.get(PAGE).get_data(as_text=True)
    path = email_link(client, outbox, "erase")
    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200
        assert client.head(path).status_code == 200
    page = response.get_data(as_text=True)
    assert "Müller" in page and "write to the campaign" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert count(app, Signature) == 3 and count(app, Subscriber) == 1
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(path, data={"csrf_token": token})
    assert response.status_code == 200
    assert "Your data is erased" in response.get_data(as_text=True)
    assert count(app, Signature) == 2 and count(app, Subscriber) == 0
    assert petition_count(app) == 1
    detail = client.get(PAGE).get_data(as_text=True)
    assert '<progress class="progress" max="100000" value="1"' in detail
    assert "Anna M." not in detail
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 1
    # A second press shows the same page; nothing breaks.
    again = client.post(path, data={"csrf_token": token})
    assert again.status_code == 200 and "Your data is erased" in again.get_data(as_text=True)
    assert petition_count(app) == 1
    # Afterwards the email says nothing is held, with no link.
    outbox.clear()
    ask(client, ANNA, "export")
    assert "/my-data/" not in outbox[0].body


def test_a_data_request_that_cannot_be_sent_yet_stays_due(client, app, anna, outbox):
    app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = "127.0.0.1", 9  # nothing listens
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", 9
    app.config["MAIL_SUPPRESS_SEND"] = app.extensions["mail"].suppress = False
    assert ask(client, ANNA).status_code == 200
    with app.app_context():
        (notice,) = _db.session.scalars(select(Notice))
        assert notice.kind == NoticeKind.DATA_EXPORT and notice.due_at is not None
        assert notice.last_error


def test_purge_deletes_finished_notices_past_the_retention_period(app, demo):
    from datetime import timedelta

    from objectwar.mail import notices as mail_notices
    from objectwar.types import utcnow

    old = utcnow() - timedelta(days=31)
    with app.app_context():
        sent_old = mail_notices.queue(NoticeKind.PASSWORD_RESET, 1, "a@example.org", "en")
        failed_old = mail_notices.queue(NoticeKind.PASSWORD_RESET, 1, "b@example.org", "en")
        due_old = mail_notices.queue(NoticeKind.PASSWORD_RESET, 1, "c@example.org", "en")
        sent_new = mail_notices.queue(NoticeKind.PASSWORD_RESET, 1, "d@example.org", "en")
        _db.session.flush()
        for notice in (sent_old, failed_old, due_old):
            notice.created_at = old
        for notice in (sent_old, sent_new):
            notice.due_at, notice.sent_at = None, utcnow()
        failed_old.due_at, failed_old.last_error = None, "550 no such user"
        _db.session.commit()
        kept = {due_old.id, sent_new.id}
        assert privacy.purge()["notices"] == 2
        assert set(_db.session.scalars(select(Notice.id))) == kept
        assert privacy.purge()["notices"] == 0


def test_the_nightly_task_applies_every_retention_rule(app, demo):
    from objectwar import tasks

    with app.app_context():
        counts = tasks.purge_expired_data.call_local()
    assert counts == {"signatures": 0, "subscriptions": 0, "subscribers": 0, "notices": 0}
    from datetime import datetime

    def due_at(hour: int, minute: int) -> set[str]:
        return {task.name for task in tasks.huey.read_periodic(datetime(2026, 11, 25, hour, minute))}

    assert "purge_expired_data" in due_at(3, 17)  # once a night
    assert "purge_expired_data" not in due_at(3, 18) | due_at(15, 17)


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_erase_in_chromium_without_javascript_on_a_phone(app, demo, browser, live_server, smtp_server):
    """A signer who signed in Russian finds "Your data" in the footer, asks for erasure,
    follows the emailed link (through a real SMTP server), presses the button, and is
    gone from the page and the count."""
    from email import policy
    from email.parser import BytesParser

    def last_text(subject_part: str) -> str:
        message = smtp_server.messages[-1]
        assert subject_part in message["Subject"]
        parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
        return parsed.get_body(preferencelist=("plain",)).get_content()

    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740},
                                  locale="ru-RU")
    page = context.new_page()
    try:
        page.goto(live_server + PAGE)
        page.fill("#first_name", "Ольга")
        page.fill("#last_name", "Смирнова")
        page.fill("#email", "olga@example.org")
        page.select_option("#country", "GE")
        page.check("input[name=public_name]")
        page.check("input[name=consent]")
        page.locator("form.sign-form button[type=submit]").click()
        page.wait_for_url("**/signed*")
        page.goto(live_server + link_in(last_text("")))
        page.locator("form button[type=submit]").click()
        page.wait_for_load_state()
        page.goto(live_server + PAGE)
        assert "Ольга С." in page.locator(".signers").inner_text()

        page.locator("footer a[href='/my-data']").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "ru"
        page.fill("#email", "olga@example.org")
        page.check("input[name=action][value=erase]")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        text = last_text("")
        match = re.search(r"https://objectwar\.test(/my-data/\S+)", text)
        assert match, text
        page.goto(live_server + match.group(1))
        assert "Смирнова" in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1
        page.goto(live_server + PAGE)
        assert "Ольга" not in page.content()
        assert petition_count(app) == 0
    finally:
        context.close()


def test_links_do_not_show_the_address_lookup_key(app, anna):
    import base64

    with app.app_context():
        digest = security.email_digest(ANNA)
        token = erase_token(app)
        payload = token.split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert digest not in token and digest.encode() not in decoded
        assert privacy.read_link(token) == (digest, privacy.DataAction.ERASE)


def test_a_data_request_given_up_leaves_no_address_behind(client, app, anna, outbox):
    from objectwar.mail import notices as mail_notices

    with app.app_context():
        notice = mail_notices.queue(NoticeKind.DATA_ERASURE, 0, ANNA, "en")
        _db.session.commit()
        notice, token = mail_notices.claim(notice.id)
        mail_notices.mark_failed(notice, token, "550 no such user", permanent=True)
        assert count(app, Notice) == 0
        kept = mail_notices.queue(NoticeKind.DATA_ERASURE, 0, ANNA, "en")
        _db.session.commit()
        kept, token = mail_notices.claim(kept.id)
        mail_notices.mark_failed(kept, token, "421 try later")  # transient: stays due
        assert count(app, Notice) == 1
