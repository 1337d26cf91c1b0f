"""The probe's findings (issue 9, item 1), each pinned by a test."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import event, select, update

from objectwar import security
from objectwar.accounts.models import Role, User
from objectwar.accounts.services import create_api_token
from objectwar.errors import ValidationError
from objectwar.extensions import db as _db
from objectwar.organisations.models import Organisation
from objectwar.validation import BIDI_CONTROLS, validate_url

SIGN_URL = "/api/v1/petitions/protect-objectors/signatures"
DEEP = b"[" * 1000 + b"]" * 1000


def _coordinator_token(app) -> dict:
    with app.app_context():
        email = "coord@objectwar.test"
        _db.session.add(User(email_digest=security.email_digest(email), email=email,
                             role=Role.COORDINATOR))
        _db.session.commit()
        return {"Authorization": f"Bearer {create_api_token(email, 'tests')}"}


# -- a. deep JSON, other content types ------------------------------------------------


@pytest.mark.parametrize("path, method", [
    (SIGN_URL, "post"), ("/api/v1/petitions", "post"), ("/api/v1/petitions/protect-objectors", "patch"),
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
    for path in (SIGN_URL, "/api/v1/petitions", "/api/v1/mailouts"):
        answer = client.post(path, data=b'{"first_name": "Anna"}', content_type=content_type, headers=headers)
        assert answer.status_code == 415, path
        assert answer.get_json() == {"errors": {"request": ["Please send JSON."]}}


def test_openapi_lists_400_and_415_where_a_body_is_read(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for operations in paths.values():
        for operation in operations.values():
            if "requestBody" in operation:
                assert {"400", "415"} <= set(operation["responses"])


# -- c. bidirectional controls in web addresses -----------------------------------------


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
def test_web_addresses_refuse_bidirectional_controls(app, control):
    with app.test_request_context():
        for value in (f"https://evil.example/{control}gpj.exe", f"https://a{control}b.example",
                      f"https://ok.example/?q={control}"):
            with pytest.raises(ValidationError) as refused:
                validate_url(value)
            assert refused.value.errors == {"website": ["Remove the control characters from this field."]}
        assert validate_url("https://friedensnetz.example/über") == "https://friedensnetz.example/über"


def test_the_apply_form_refuses_a_website_with_u202e(client, app):
    from tests.test_organisations import apply

    response = apply(client, website="https://friedensnetz.example/\u202eexe.pdf")
    assert response.status_code == 422
    assert "Remove the control characters from this field." in response.get_data(as_text=True)
    with app.app_context():
        assert _db.session.scalar(select(Organisation)) is None


# -- d. no SMTP conversation on the console ---------------------------------------------


def test_sending_with_debug_on_prints_no_address_name_or_link(app, backend, database_urls, instance_dir,
                                                               smtp_server, capfd):
    from objectwar.demo import seed_demo
    from tests.conftest import make_app
    from tests.signing_support import person

    debugging = make_app(database_urls[backend], instance_dir, DEBUG=True, **smtp_server.config())
    with debugging.app_context():
        seed_demo()
    capfd.readouterr()
    answer = debugging.test_client().post(SIGN_URL, json=person(first_name="Zoltan",
                                                                 email="zoltan.probe@example.org"))
    assert answer.status_code == 202
    assert len(smtp_server.messages) == 1  # it did go out, over SMTP
    printed = "".join(capfd.readouterr())
    assert "zoltan.probe" not in printed and "Zoltan" not in printed
    assert "/confirm/" not in printed and "rcpt" not in printed.lower()


def test_the_development_servers_log_shows_no_token_or_query(app, caplog):
    """``make run``'s request log: a confirmation link's token and a query are hidden."""
    import logging
    import threading
    import urllib.request

    from werkzeug.serving import make_server

    from objectwar.dev.server import RedactingRequestHandler, redact

    token = "eyJ2IjoxfQ.Zk3x9Q.abcdefghijklmnopqrstu"
    assert redact(f"/petitions/protect-objectors/confirm/{token}?lang=ru&email=a@b.example") == \
        "/petitions/protect-objectors/confirm/[token]?[query]"
    assert redact("/petitions/protect-objectors") == "/petitions/protect-objectors"
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RedactingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.port}/petitions/protect-objectors/confirm/{token}?email=a@b.example"
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(url, timeout=30)  # noqa: S310 (loopback)
    finally:
        server.shutdown()
        thread.join()
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "werkzeug")
    assert "/confirm/[token]?[query]" in logged
    assert token not in logged and "a@b.example" not in logged


def test_an_unhandled_error_is_logged_without_the_links_token(backend, database_urls, instance_dir, caplog):
    import logging

    from tests.conftest import make_app

    crashing = make_app(database_urls[backend], instance_dir, PROPAGATE_EXCEPTIONS=False)
    token = "eyJ2IjoxfQ.Zk3x9Q.abcdefghijklmnopqrstu"

    @crashing.get("/crash/<token>")
    def crash(token: str):
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR):
        assert crashing.test_client().get(f"/crash/{token}?email=a@b.example").status_code == 500
    # Logged by the route's rule (objectwar.errors), never by the path the visitor sent.
    assert "Unhandled error on GET /crash/<token>" in caplog.text
    assert token not in caplog.text and "a@b.example" not in caplog.text


def test_no_configuration_turns_smtp_debugging_on(app, instance_dir):
    from objectwar import create_app

    for name in ("development", "testing"):
        built = create_app(name, DEBUG=True, MAIL_DEBUG=1)
        assert built.config["MAIL_DEBUG"] is False
        assert built.extensions["mail"].debug == 0


# -- e. sessions end after 30 minutes idle and 12 hours at most --------------------------


def _logged_in(client, email: str, password: str) -> None:
    from tests.test_accounts import post_login

    assert post_login(client, email, password).status_code == 302


def _age_session(client, idle_minutes: float = 0, hours_since_login: float = 0) -> None:
    with client.session_transaction() as session:
        session["seen_at"] = int(time.time() - idle_minutes * 60)
        session["login_at"] = int(time.time() - hours_since_login * 3600)


@pytest.mark.parametrize("who, email, password, page", [
    ("member", "alice@a.example", "a long and rare passphrase", "/my/organisation"),
    ("coordinator", "coord@campaign.example", "coordinator passphrase 2026", "/admin/organisations"),
])
def test_a_session_ends_after_30_idle_minutes_and_12_hours(client, people, who, email, password, page):
    _logged_in(client, email, password)
    with client.session_transaction() as session:
        assert abs(session["login_at"] - time.time()) < 5 and session["seen_at"] == session["login_at"]
    assert client.get(page).status_code == 200
    _age_session(client, idle_minutes=29, hours_since_login=11.9)
    assert client.get(page).status_code == 200  # used: the idle clock starts again
    with client.session_transaction() as session:
        assert abs(session["seen_at"] - time.time()) < 5
    _age_session(client, idle_minutes=31, hours_since_login=1)
    assert client.get(page).status_code == 302  # to the login page
    with client.session_transaction() as session:
        assert "_user_id" not in session

    _logged_in(client, email, password)
    _age_session(client, idle_minutes=0, hours_since_login=12.1)  # in use all the time, still
    answer = client.get(page)
    assert answer.status_code == 302 and "/account/login" in answer.headers["Location"]


def test_a_session_from_before_the_rule_ends(client, app, people):
    from tests.conftest import login_as

    login_as(client, app, people.member_a)
    with client.session_transaction() as session:
        del session["login_at"], session["seen_at"]
    assert client.get("/my/organisation").status_code == 302


def test_session_lifetimes_are_configurable(app, people, monkeypatch):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    client = app.test_client()
    _logged_in(client, "alice@a.example", "a long and rare passphrase")
    _age_session(client, idle_minutes=6)
    assert client.get("/my/organisation").status_code == 302
    _logged_in(client, "alice@a.example", "a long and rare passphrase")
    _age_session(client, hours_since_login=1.1)
    assert client.get("/my/organisation").status_code == 302
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "45")
    monkeypatch.setenv("SESSION_MAX_HOURS", "8")
    from config import config_for

    configured = config_for("testing")
    assert (configured.SESSION_IDLE_MINUTES, configured.SESSION_MAX_HOURS) == (45, 8)


# -- f. a subscription's confirmation link never undoes an unsubscribe -----------------


def _subscribe_and_get_link(client, outbox, email: str) -> str:
    from tests.test_subscribe import link_in, subscribe

    before = len(outbox)
    assert subscribe(client, email=email).status_code == 302
    assert len(outbox) == before + 1
    return link_in(outbox[-1])


def _post_link(client, link: str):
    from tests.conftest import csrf_token

    return client.post(link, data={"csrf_token": csrf_token(client, "/lists/updates/subscribe")})


def _status(app, email: str):
    from tests.test_subscribe import subscription_of

    subscription = subscription_of(app, email)
    return subscription.status, subscription.changed_at


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(app, client, demo, outbox):
    from objectwar.mailing import lists
    from objectwar.mailing.models import Subscription, SubscriptionStatus
    from objectwar.mailouts import compose

    email = "changed.mind@example.org"
    link = _subscribe_and_get_link(client, outbox, email)
    assert _post_link(client, link).status_code == 200
    subscribed, confirmed_at = _status(app, email)
    assert subscribed == SubscriptionStatus.SUBSCRIBED
    assert _post_link(client, link).status_code == 200  # again: changes nothing
    assert _status(app, email) == (SubscriptionStatus.SUBSCRIBED, confirmed_at)

    with app.app_context():
        subscription = _db.session.scalar(select(Subscription))
        lists.unsubscribe(compose.unsubscribe_token(subscription.subscriber_id, subscription.list_id))
    for answer in (client.get(link), _post_link(client, link)):
        assert answer.status_code == 404
        assert "not valid or has expired" in answer.get_data(as_text=True)
    assert _status(app, email)[0] == SubscriptionStatus.UNSUBSCRIBED

    # The person asks again through the form (a day later): the new link works, the old one does not.
    with app.app_context():
        subscription = _db.session.scalar(select(Subscription))
        subscription.confirmation_sent_at = subscription.confirmation_sent_at.replace(year=2000)
        _db.session.commit()
    fresh = _subscribe_and_get_link(client, outbox, email)
    assert fresh != link
    assert _post_link(client, link).status_code == 404
    assert _status(app, email)[0] == SubscriptionStatus.UNSUBSCRIBED
    assert _post_link(client, fresh).status_code == 200
    assert _status(app, email)[0] == SubscriptionStatus.SUBSCRIBED


@pytest.mark.parametrize("final", ["bounced", "complained"])
def test_no_confirmation_link_resubscribes_a_bounced_or_complaining_address(
        app, client, demo, outbox, final):
    from objectwar.mailing import services
    from objectwar.mailing.models import Subscription, SubscriptionStatus
    from objectwar.types import utcnow

    email = "gone@example.org"
    link = _subscribe_and_get_link(client, outbox, email)
    with app.app_context():
        subscription = _db.session.scalar(select(Subscription))
        subscription.status = SubscriptionStatus(final)
        subscription.changed_at = utcnow()
        _db.session.commit()
        current = services.subscription_token(subscription)  # even a link of the present state
    for token_link in (link, link.rsplit("/", 1)[0] + "/" + current):
        assert _post_link(client, token_link).status_code == 404
        assert client.get(token_link).status_code == 404
    assert _status(app, email)[0] == SubscriptionStatus(final)


# -- g. a stranger's guesses slow the stranger, not the owner; /account/password too -------

OWNER_PASSWORD = "a long and rare passphrase"


def _client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login(client, password: str, email: str = "alice@a.example"):
    from tests.test_accounts import post_login

    return post_login(client, email, password)


def test_a_strangers_wrong_passwords_do_not_keep_the_owner_out(app, people):
    from objectwar.accounts.models import User

    owner = _client_at(app, "198.51.100.7")
    assert _login(owner, OWNER_PASSWORD).status_code == 302  # the owner's browser, known from now on
    assert owner.post("/account/logout", data={"csrf_token": _csrf(owner)}).status_code == 302

    stranger = _client_at(app, "203.0.113.9")
    for attempt in range(7):
        assert _login(stranger, f"guess number {attempt}").status_code == 422
    with app.app_context():
        assert _db.session.get(User, people.member_a).failed_logins == 5  # the rest went unheard
    # The guesser is slowed: not even the right password is heard from there now...
    assert _login(stranger, OWNER_PASSWORD).status_code == 422
    # ...while the owner logs in at once, from their browser, at another address too.
    owner.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    assert _login(owner, OWNER_PASSWORD).status_code == 302
    assert owner.get("/my/organisation").status_code == 200


def test_a_forged_device_cookie_does_not_lift_the_lock(app, people):
    from objectwar.accounts.services import DEVICE_COOKIE

    stranger = _client_at(app, "203.0.113.9")
    for attempt in range(5):
        assert _login(stranger, f"guess number {attempt}").status_code == 422
    other = _client_at(app, "203.0.113.10")
    other.set_cookie(DEVICE_COOKIE, "forged", path="/account/login")
    assert _login(other, OWNER_PASSWORD).status_code == 422  # the account waits for strangers


def _csrf(client, path: str = "/account/password") -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, path)


def test_the_password_page_throttles_guesses_of_the_current_password(app, people):
    from objectwar.accounts.models import User

    client = _client_at(app, "198.51.100.7")
    assert _login(client, OWNER_PASSWORD).status_code == 302
    new = "an entirely new passphrase"
    for attempt in range(5):
        answer = client.post("/account/password", data={"csrf_token": _csrf(client), "current": f"guess {attempt}",
                                                         "password": new, "confirm": new})
        assert answer.status_code == 422
        assert "This is not your current password." in answer.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(User, people.member_a).failed_logins == 5
    right = client.post("/account/password", data={"csrf_token": _csrf(client), "current": OWNER_PASSWORD,
                                                    "password": new, "confirm": new})
    assert right.status_code == 422
    assert "too many attempts" in right.get_data(as_text=True)
    with app.app_context():
        assert security.verify_password(_db.session.get(User, people.member_a).password_hash, OWNER_PASSWORD)


# -- h. the database down is a 503 with Retry-After, and the app recovers by itself -----------


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


# -- i. the size of a public body is checked before anything parses it --------------------------

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


# -- j. a repeat signer costs the request what a first signer does: the same statements ------


def _statement(sql: Any) -> str:
    """A statement's text with its whitespace normalised (its values are all bound)."""
    return re.sub(r"\s+", " ", sql if isinstance(sql, str) else str(sql)).strip()


def _kind(statement: str) -> str:
    """``INSERT signatures``, ``SELECT petitions``...: what a failure message shows."""
    verb = statement.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:INTO|FROM|UPDATE)\s+\"?(\w+)", statement, re.I)
    return f"{verb} {table.group(1) if table else '?'}"


@contextlib.contextmanager
def _statements(engine) -> Iterator[list[str]]:
    """The statements run meanwhile: SQLAlchemy's (``before_cursor_execute``), and those
    run on psycopg's own connection, which bypass the engine's events (``signing._insert``)."""
    import psycopg

    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(_statement(statement))

    original = psycopg.Connection.execute

    def execute(self, query, params=None, **kwargs):
        seen.append(_statement(query))
        return original(self, query, params, **kwargs)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with mock.patch.object(psycopg.Connection, "execute", execute):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _set_row(app, email: str, **values) -> None:
    from objectwar.petitions.models import Signature

    with app.app_context():
        _db.session.execute(update(Signature).where(
            Signature.email_digest == security.email_digest(email)).values(**values))
        _db.session.commit()


@pytest.mark.parametrize("app_overrides", [{"TASKS_IMMEDIATE": False, "SIGN_MIN_FILL_SECONDS": 0}])
@pytest.mark.parametrize("way", ["api", "form"])
def test_a_repeat_signer_costs_the_request_the_same_statements_as_a_first_one(app, client, demo,
                                                                              way):
    """A repeat's answer took twice as long (a lookup and an UPDATE of its own): the
    request now runs the same statements for every signer; the worker tells them apart."""
    from objectwar import tasks
    from objectwar.types import utcnow
    from tests.signing_support import SIGN_URL as FORM_URL
    from tests.signing_support import SLUG, form_data, person

    with app.app_context():
        engine = _db.engine

    def measured(email: str) -> tuple[list[str], tuple]:
        if way == "form":
            page = client.get(f"/petitions/{SLUG}").get_data(as_text=True)  # not measured
        queued = tasks.huey.pending_count()
        with _statements(engine) as seen:
            if way == "form":
                answer = client.post(FORM_URL, data=form_data(page, email=email))
            else:
                answer = client.post(SIGN_URL, json=person(email=email))
        headers = {key: value for key, value in answer.headers.items() if key != "Date"}
        # what the request did: statements, answer, emails queued
        return seen, (answer.status_code, answer.get_data(), headers,
                      tasks.huey.pending_count() - queued)

    tasks.huey.flush()
    measured("warm.up@example.org")  # the process looks the petition up once, for everyone
    first, first_answer = measured("anna@example.org")
    now = utcnow()
    repeats = {"repeat, its email still due": measured("ANNA@example.org")}
    _set_row(app, "anna@example.org", confirmation_due_at=None, confirmation_sends=1,
             confirmation_window_start=now, confirmation_sent_at=now)  # as the worker does
    repeats["repeat, unconfirmed"] = measured(" Anna@Example.org")
    _set_row(app, "anna@example.org", confirmation_due_at=None, confirmed_at=now)
    repeats["repeat, confirmed"] = measured("anna@EXAMPLE.org")
    _set_row(app, "anna@example.org", confirmation_due_at=None, confirmation_sends=3)
    repeats["repeat, over the day's emails"] = measured("anna@example.org")
    tasks.huey.flush()

    assert [_kind(statement) for statement in first] == ["INSERT signatures"]
    assert first_answer[-1] == 1  # its email queued
    for case, (statements, answer) in repeats.items():
        assert [_kind(s) for s in statements] == [_kind(s) for s in first], case
        assert statements == first, case
        assert answer == first_answer, case
