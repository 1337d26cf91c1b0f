"""Bad input and broken parts give clear answers, never a 500 (review findings)."""

from sqlalchemy import delete, func, select

from objectwar.extensions import db as _db
from objectwar.mailing.models import MailingList
from objectwar.petitions.models import Signature
from tests.signing_support import SLUG, link_in, person


def test_nul_bytes_in_slugs_are_404_not_500(client, demo):
    for path in ("/petitions/a%00b", "/petitions/a%00b/embed", "/api/v1/petitions/a%00b",
                 f"/petitions/{SLUG}?org=%00", f"/petitions/{SLUG}/embed?org=a%00"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
    response = client.post(f"/api/v1/petitions/{SLUG}/signatures",
                           json=person(organisation="a\x00b"))
    assert response.status_code == 422
    assert "organisation" in response.get_json()["errors"]


def test_huge_ids_are_404(client):
    assert client.get("/api/v1/mailouts/99999999999999999999").status_code == 404


def test_far_future_schedule_time_is_a_field_error(app):
    import pytest

    from objectwar.errors import ValidationError
    from objectwar.mailouts import editing

    with app.test_request_context(), pytest.raises(ValidationError) as caught:
        editing.parse_moment("9999-12-31T23:59:59-05:00")
    assert "scheduled_at" in caught.value.errors


def test_confirming_with_updates_works_without_an_updates_list(app, client, demo, outbox):
    with app.app_context():
        _db.session.execute(delete(MailingList))
        _db.session.commit()
    assert client.post(f"/api/v1/petitions/{SLUG}/signatures",
                        json=person(updates=True)).status_code == 202
    path = link_in(outbox[0].body)
    from tests.signing_support import csrf_of

    token = csrf_of(client.get(path).get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 1


def test_a_broken_queue_delays_mail_but_keeps_the_signature(backend, database_urls, instance_dir, demo):
    # A real queue whose Redis is not there (nothing listens on port 1).
    from tests.conftest import make_app

    broken = make_app(database_urls[backend], instance_dir, TASKS_IMMEDIATE=False,
                      REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().post(f"/api/v1/petitions/{SLUG}/signatures", json=person())
    assert response.status_code == 202
    with broken.app_context():
        row = _db.session.scalar(select(Signature))
        assert row.confirmation_due_at is not None  # the periodic task will send it
        assert _db.session.scalar(select(func.count()).select_from(Signature)) == 1
        _db.engine.dispose()


def test_a_broken_rate_limit_store_does_not_stop_signing_or_data_requests(
        backend, database_urls, instance_dir, demo):
    """Rate limits fail open when their Redis is gone: signing matters more (logged)."""
    from tests.conftest import csrf_token, make_app

    broken = make_app(database_urls[backend], instance_dir,
                      RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    client = broken.test_client()
    response = client.post(f"/api/v1/petitions/{SLUG}/signatures", json=person())
    assert response.status_code == 202
    answer = client.post("/my-data", data={"csrf_token": csrf_token(client, "/my-data"),
                                           "email": "a@example.org", "action": "export"})
    assert answer.status_code == 200
    with broken.app_context():
        _db.engine.dispose()
