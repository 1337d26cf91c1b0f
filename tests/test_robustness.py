"""Bad input and broken parts give clear answers, never a 500 (review findings)."""

import pytest
from sqlalchemy import delete, func, select

from objectwar import security
from objectwar.accounts.models import Role, User
from objectwar.accounts.services import create_api_token
from objectwar.extensions import db as _db
from objectwar.mailing.models import MailingList
from objectwar.petitions.models import Signature
from tests.helpers import link_in
from tests.signing_support import API_URL, SLUG, person


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
    from tests.conftest import make_app
    from tests.helpers import csrf_token

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


# -- deep JSON and other content types on the JSON endpoints --------------------------

DEEP = b"[" * 1000 + b"]" * 1000


def _coordinator_token(app) -> dict:
    with app.app_context():
        email = "coord@objectwar.test"
        _db.session.add(User(email_digest=security.email_digest(email), email=email,
                             role=Role.COORDINATOR))
        _db.session.commit()
        return {"Authorization": f"Bearer {create_api_token(email, 'tests')}"}


@pytest.mark.parametrize("path, method", [
    (API_URL, "post"), ("/api/v1/petitions", "post"), ("/api/v1/petitions/protect-objectors", "patch"),
    ("/api/v1/lists/updates/subscribers", "post"), ("/api/v1/mailouts", "post"),
    ("/api/v1/mailouts/1/schedule", "post"),
])
def test_deeply_nested_json_is_400_on_every_json_endpoint(app, client, demo, path, method):
    headers = _coordinator_token(app)
    for body in (DEEP, b"[" * 40 + b"]" * 40, b'{"a":' * 40 + b"1" + b"}" * 40):
        answer = getattr(client, method)(path, data=body, content_type="application/json", headers=headers)
        assert answer.status_code == 400, body[:10]
        assert answer.get_json() == {"errors": {"request": ["The JSON is nested too deeply."]}}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain",
                                          "multipart/form-data; boundary=x"])
def test_json_endpoints_answer_415_to_other_content_types(app, client, demo, content_type):
    headers = _coordinator_token(app)
    for path in (API_URL, "/api/v1/petitions", "/api/v1/mailouts"):
        answer = client.post(path, data=b'{"first_name": "Anna"}', content_type=content_type, headers=headers)
        assert answer.status_code == 415, path
        assert answer.get_json() == {"errors": {"request": ["Please send JSON."]}}


# -- the database down is a 503 with Retry-After, and the app recovers by itself -------


def test_an_unreachable_postgresql_is_503_with_retry_after(app, instance_dir):
    from tests.conftest import free_port, make_app

    down = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing", instance_dir,
                    PETITION_STATE_CACHE=False)
    client = down.test_client()
    page = client.get("/")
    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert "briefly unavailable" in page.get_data(as_text=True)
    answer = client.get("/api/v1/petitions")
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.get_json() == {"errors": {"request": [
        "The site is briefly unavailable. Please try again in a minute."]}}


def test_a_signature_on_a_connection_the_database_dropped_is_503(pg_app):
    """The signing statement runs on the driver's connection itself: a pooled connection
    the database dropped (a restart) answers 503 with Retry-After, not 500, and leaves the
    pool, so the next signature is taken."""
    import psycopg
    from sqlalchemy.engine import make_url

    from objectwar.demo import seed_demo
    from tests.signing_support import API_URL, person

    with pg_app.app_context():
        seed_demo()
    client = pg_app.test_client()
    assert client.post(API_URL, json=person(email="first@example.org")).status_code == 202
    url = make_url(pg_app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        assert conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%'"
        ).fetchall()
    answer = client.post(API_URL, json=person(email="second@example.org"))
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert client.post(API_URL, json=person(email="second@example.org")).status_code == 202


def test_the_app_recovers_when_the_database_comes_back(app, tmp_path):
    import os

    from objectwar.demo import seed_demo
    from tests.conftest import make_app

    folder = tmp_path / "not-yet"
    down = make_app(f"sqlite:///{folder}/objectwar.db", str(tmp_path), PETITION_STATE_CACHE=False)
    client = down.test_client()
    assert client.get("/").status_code == 503
    assert client.get("/api/v1/petitions").status_code == 503
    os.makedirs(folder)  # the database is back
    with down.app_context():
        _db.create_all()
        seed_demo()
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/petitions").get_json()["petitions"]
    with down.app_context():
        _db.engine.dispose()


# -- the size of a public body is checked before anything parses it ---------------------

@pytest.fixture
def limited(app):
    app.config["SIGN_MIN_FILL_SECONDS"] = 0
    return app


@pytest.mark.parametrize("path", ["/petitions/{slug}/sign", "/lists/updates/subscribe", "/my-data",
                                  "/account/login", "/petitions/{slug}/share/mastodon"])
def test_a_public_form_of_many_fields_or_bytes_is_413_and_nothing_is_stored(limited, client, demo, path):
    from objectwar.petitions.models import Signature
    from tests.signing_support import SLUG

    url = path.format(slug=SLUG)
    many_fields = "&".join(f"f{n}=x" for n in range(2_000))  # about 14 KB: under the size limit
    big = "website=&first_name=" + "x" * 20_000
    for body in (many_fields, big):
        answer = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
        assert answer.status_code == 413, (url, answer.status_code)
    with limited.app_context():
        assert _db.session.scalar(select(Signature.id)) is None


def test_a_rate_limited_signer_sending_a_huge_form_gets_413_not_a_parse(limited, client, demo):
    from tests.signing_support import SIGN_URL, sign_form

    limited.config["SIGN_RATE_LIMIT"] = "1 per minute"
    assert sign_form(client).status_code == 302
    huge = "&".join(f"f{n}=x" for n in range(600_000))  # the probe's body: 600,000 fields
    assert client.post(SIGN_URL, data=huge,
                       content_type="application/x-www-form-urlencoded").status_code == 413
    assert client.post(SIGN_URL, data="embed=1&stamp=x",
                       content_type="application/x-www-form-urlencoded").status_code == 429


def test_the_signing_api_answers_413_in_json_to_a_large_body(client, demo):
    from tests.signing_support import API_URL, person

    answer = client.post(API_URL, json={**person(), "first_name": "x" * 20_000})
    assert answer.status_code == 413 and "errors" in answer.get_json()
    assert client.post(API_URL, json=person()).status_code == 202  # a real signature passes
