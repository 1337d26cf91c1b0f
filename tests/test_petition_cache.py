"""The petition's read caches: exact counts, per-visitor tokens, fresh texts."""

from sqlalchemy import select, update

from objectwar.extensions import db as _db
from objectwar.petitions import services
from objectwar.petitions.models import Petition, PetitionText
from tests.signing_support import SLUG, hidden_fields, person

PAGE = f"/petitions/{SLUG}"


def test_each_visitor_gets_own_stamp_and_no_cookie(app, demo):
    first, second = app.test_client(), app.test_client()
    response = first.get(PAGE)
    page_one = response.get_data(as_text=True)
    page_two = second.get(PAGE).get_data(as_text=True)
    assert "\x00" not in page_one
    assert 'name="csrf_token"' not in page_one
    assert "Set-Cookie" not in response.headers
    stamps = [hidden_fields(page)["stamp"] for page in (page_one, page_two)]
    assert all(stamps)
    # The page's two forms (sign, Mastodon share) carry the stamp.
    assert page_one.count(f'name="stamp" value="{stamps[0]}"') == 2


def test_count_is_exact_after_every_confirmation(app, client, demo):
    assert "0 signatures" in client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 0
    with app.app_context():
        _db.session.execute(update(Petition).values(signature_count=Petition.signature_count + 1))
        _db.session.commit()
    assert "1 signature" in client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 1


def test_logged_in_visitors_get_their_own_page(app, demo, people):
    from tests.helpers import login_as

    coordinator = login_as(app.test_client(), app, people.coordinator)
    app.test_client().get(PAGE)  # an anonymous visit fills the cache
    assert 'href="/admin/"' in coordinator.get(PAGE).get_data(as_text=True)
    assert 'href="/admin/"' not in app.test_client().get(PAGE).get_data(as_text=True)


def test_texts_refresh_after_the_cache_time(app, client, demo):
    assert "Protection and asylum" in client.get(PAGE + "?lang=en").get_data(as_text=True)
    with app.app_context():
        _db.session.execute(update(PetitionText).where(PetitionText.locale == "en")
                            .values(title="A new title"))
        _db.session.commit()
    # Within the cache time the page keeps the old text...
    assert "Protection and asylum" in client.get(PAGE + "?lang=en").get_data(as_text=True)
    # ...and shows the new one as soon as the cache is dropped (or expires).
    app.config["PETITION_CACHE_SECONDS"] = 0
    assert "A new title" in client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert client.get(f"/api/v1/petitions/{SLUG}?lang=en").get_json()["title"] == "A new title"


def test_forget_content_drops_the_cache(app, demo):
    with app.test_request_context():
        petition = services.get_public_petition(SLUG)
        petition_id = petition.id
        _db.session.execute(update(PetitionText).where(PetitionText.locale == "en")
                            .values(title="Edited"))
        _db.session.commit()
        assert services.get_public_petition(SLUG).text_for("en").title != "Edited"
        services.forget_content(petition_id)
        assert services.get_public_petition(SLUG).text_for("en").title == "Edited"
        assert _db.session.scalar(select(Petition.id)) == petition_id


def test_signing_from_a_cached_page_works(app, demo, outbox):
    app.config["SIGN_MIN_FILL_SECONDS"] = 0
    app.test_client().get(PAGE)  # fills the cache
    visitor = app.test_client()
    page = visitor.get(PAGE).get_data(as_text=True)
    data = {**hidden_fields(page), **person(), "consent": "y"}
    data.pop("locale", None)
    response = visitor.post(f"/petitions/{SLUG}/sign", data=data)
    assert response.status_code == 302
    assert len(outbox) == 1
