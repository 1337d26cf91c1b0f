"""Accounts: login, logout, sessions, throttling, password resets and invitations."""

from __future__ import annotations

import re

import pytest

from objectwar.accounts import services
from objectwar.accounts.models import Invitation, User
from objectwar.extensions import db as _db
from objectwar.extensions import limiter
from objectwar.mail.models import Notice, NoticeKind
from tests.factories import COORDINATOR_PASSWORD, MEMBER_PASSWORD
from tests.helpers import csrf_token, link_in


def test_login_page_and_default_pages(client, people, auth):
    assert client.get("/account/login").status_code == 200
    response = auth.login("alice@a.example", MEMBER_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/my/organisation"
    assert client.get("/my/organisation").status_code == 200
    other = client.application.test_client()
    response = auth.login("COORD@campaign.example ", COORDINATOR_PASSWORD, client=other)
    assert response.headers["Location"] == "/admin/organisations"


@pytest.mark.parametrize("target", [
    "//evil.example/x", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
    "http:/evil.example", "/\tevil", " //evil.example", "\\\\evil.example", "evil.example",
])
def test_login_never_redirects_off_site(client, people, target, auth):
    response = auth.login("alice@a.example", MEMBER_PASSWORD, next_=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/my/organisation"


def test_login_follows_a_local_next(client, people, auth):
    response = auth.login("alice@a.example", MEMBER_PASSWORD,
                          next_="/my/organisation/colleagues?x=1")
    assert response.headers["Location"] == "/my/organisation/colleagues?x=1"


def test_stranger_is_sent_to_login_with_next(client, people):
    response = client.get("/my/organisation/profile")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login?next=")
    assert "%2Fmy%2Forganisation%2Fprofile" in response.headers["Location"]


def test_wrong_password_and_unknown_address_answer_the_same(client, people, auth):
    wrong = auth.login("alice@a.example", "not the password at all")
    unknown = auth.login("nobody@a.example", "not the password at all")
    assert wrong.status_code == unknown.status_code == 422
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert client.get("/my/organisation").status_code == 302


def test_login_clears_the_previous_session(client, people, auth):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login("alice@a.example", MEMBER_PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"].startswith(f"{people.member_a}:")


def test_logout_ends_the_session_on_the_server(client, app, people, auth):
    auth.login("alice@a.example", MEMBER_PASSWORD)
    with client.session_transaction() as session:
        stolen = dict(session)
    token = csrf_token(client, "/my/organisation")
    assert client.post("/account/logout", data={"csrf_token": token}).status_code == 302
    # A copy of the old cookie does not work any more.
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(stolen)
    assert replay.get("/my/organisation").status_code == 302


def test_logout_needs_post_and_csrf(client, people, auth):
    auth.member(people.org_a)
    assert client.get("/account/logout").status_code == 405
    assert client.post("/account/logout").status_code == 400
    assert client.get("/my/organisation").status_code == 200


def test_log_out_everywhere(client, app, people, auth):
    other = app.test_client()
    auth.login("alice@a.example", MEMBER_PASSWORD)
    auth.login("alice@a.example", MEMBER_PASSWORD, client=other)
    token = csrf_token(client, "/account/password")
    assert client.post("/account/logout-everywhere", data={"csrf_token": token}).status_code == 302
    assert other.get("/my/organisation").status_code == 302
    assert client.get("/my/organisation").status_code == 302


def test_password_change_keeps_this_session_and_ends_others(client, app, people, auth):
    other = app.test_client()
    auth.login("alice@a.example", MEMBER_PASSWORD)
    auth.login("alice@a.example", MEMBER_PASSWORD, client=other)
    token = csrf_token(client, "/account/password")
    bad = client.post("/account/password", data={"csrf_token": token, "current": "wrong one here",
                                                 "password": "x" * 5, "confirm": "x" * 5})
    assert bad.status_code == 422
    assert "This is not your current password." in bad.get_data(as_text=True)
    new = "an entirely new passphrase"
    response = client.post("/account/password", data={"csrf_token": token, "current": MEMBER_PASSWORD,
                                                      "password": new, "confirm": new})
    assert response.status_code == 302
    assert client.get("/my/organisation").status_code == 200
    assert other.get("/my/organisation").status_code == 302
    assert auth.login("alice@a.example", new, client=app.test_client()).status_code == 302


def test_account_throttle_grows_and_expires(client, app, people):
    with app.app_context():
        for attempt in range(services.LOCK_AFTER):
            assert services.authenticate("alice@a.example", f"wrong password {attempt}") is None
        user = _db.session.get(User, people.member_a)
        assert user.failed_logins == services.LOCK_AFTER
        assert user.locked_until is not None
        # Locked: even the right password does not open it now...
        assert services.authenticate("alice@a.example", MEMBER_PASSWORD) is None
        assert services.lock_delay(services.LOCK_AFTER) < services.lock_delay(services.LOCK_AFTER + 2)
        assert services.lock_delay(1000) == services.LOCK_MAX_SECONDS  # never permanent
        # ...but once the delay (and this client's window of guesses) has passed, it does.
        user.locked_until = user.locked_until.replace(year=2000)
        _db.session.commit()
        limiter.reset()
        assert services.authenticate("alice@a.example", MEMBER_PASSWORD).id == people.member_a
        assert _db.session.get(User, people.member_a).failed_logins == 0


@pytest.fixture
def app_overrides():
    return {"ACCOUNT_RATE_LIMIT": "3 per minute"}


def test_client_address_throttle_answers_429_with_retry_after(client, people, auth):
    for _ in range(3):
        assert auth.login("nobody@a.example", "whatever it is").status_code == 422
    response = auth.login("alice@a.example", MEMBER_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("password,ok", [
    ("short", False), ("password1234", False), ("123456789012", False), ("aaaaaaaaaaaaaa", False),
    ("alice@a.example", False), ("Correct-Horse-Battery", True), ("a long and rare passphrase", True),
])
def test_password_rules(app, password, ok):
    from objectwar.errors import ValidationError

    with app.test_request_context():
        if ok:
            services.check_password_rules(password, "alice@a.example")
        else:
            with pytest.raises(ValidationError):
                services.check_password_rules(password, "alice@a.example")


# -- password reset ---------------------------------------------------------------------


def ask_reset(client, email):
    token = csrf_token(client, "/account/reset")
    return client.post("/account/reset", data={"csrf_token": token, "email": email})


def test_reset_same_answer_for_known_and_unknown(client, people, outbox):
    known = ask_reset(client, "alice@a.example")
    unknown = ask_reset(client, "nobody@a.example")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert [m.recipients for m in outbox] == [["alice@a.example"]]


def test_reset_link_sets_password_once_and_is_built_from_public_url(client, app, people, outbox, auth):
    ask_reset(client, "alice@a.example")
    (message,) = outbox
    assert "https://objectwar.test/account/reset/" in message.body
    assert "localhost" not in message.body and "localhost" not in message.html
    path = link_in(message, "/account/")
    assert client.get(path).status_code == 200
    token = csrf_token(client, path)
    new = "my brand new passphrase"
    response = client.post(path, data={"csrf_token": token, "password": new, "confirm": new})
    assert response.status_code == 302
    assert auth.login("alice@a.example", new, client=app.test_client()).status_code == 302
    # Used once: the same link is dead now.
    assert client.get(path).status_code == 404
    with app.app_context():
        notice = _db.session.query(Notice).one()
        assert notice.kind == NoticeKind.PASSWORD_RESET and notice.sent_at and notice.due_at is None


def test_reset_link_ignores_the_request_host(client, people, outbox):
    page = client.get("/account/reset", base_url="http://evil.example").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/account/reset", base_url="http://evil.example",
                           data={"csrf_token": token, "email": "alice@a.example"})
    assert response.status_code == 200
    assert "evil.example" not in outbox[0].body
    assert "https://objectwar.test/account/reset/" in outbox[0].body


def test_reset_rejects_weak_password_and_changes_nothing(client, app, people, outbox, auth):
    ask_reset(client, "alice@a.example")
    path = link_in(outbox[0], "/account/")
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, "password": "password1234",
                                       "confirm": "password1234"})
    assert response.status_code == 422
    assert "too easy to guess" in response.get_data(as_text=True)
    assert auth.login("alice@a.example", MEMBER_PASSWORD, client=app.test_client()).status_code == 302


def test_reset_token_tampered_expired_and_wrong_purpose(client, app, people, monkeypatch):
    with app.app_context():
        user = _db.session.get(User, people.member_a)
        token = services.reset_token(user)
        invitation_token = services.invitation_token(_db.session.get(Invitation, people.invitation_b))
    assert client.get(f"/account/reset/{token}").status_code == 200
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/account/reset/{tampered}").status_code == 404
    assert client.get(f"/account/reset/{invitation_token}").status_code == 404
    assert client.get("/account/reset/not-a-token").status_code == 404
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + services.RESET_MAX_AGE + 5)
    assert client.get(f"/account/reset/{token}").status_code == 404


# -- invitations -----------------------------------------------------------------------------


def test_invitation_accept_once(client, app, people, outbox, auth):
    auth.member(people.org_a)
    token = csrf_token(client, "/my/organisation/colleagues")
    response = client.post("/my/organisation/colleagues",
                           data={"csrf_token": token, "email": "carol@a.example"})
    assert response.status_code == 302
    (message,) = outbox
    assert message.recipients == ["carol@a.example"]
    path = link_in(message, "/account/")
    assert path.startswith("/account/invitation/")
    visitor = app.test_client()
    assert "Organisation A" in visitor.get(path).get_data(as_text=True)
    token = csrf_token(visitor, path)
    mismatch = visitor.post(path, data={"csrf_token": token, "password": "carol's passphrase",
                                        "confirm": "something else"})
    assert mismatch.status_code == 422
    response = visitor.post(path, data={"csrf_token": token, "password": "carol's passphrase",
                                        "confirm": "carol's passphrase"})
    assert response.status_code == 302 and response.headers["Location"] == "/my/organisation"
    assert visitor.get("/my/organisation").status_code == 200
    assert app.test_client().get(path).status_code == 404  # used
    with app.app_context():
        carol = services.find_user_by_email("carol@a.example")
        assert carol.organisation_id == people.org_a and carol.role == "member"


def test_invitation_expires_after_seven_days(client, app, people, monkeypatch):
    with app.app_context():
        token = services.invitation_token(_db.session.get(Invitation, people.invitation_b))
    assert client.get(f"/account/invitation/{token}").status_code == 200
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time",
                        lambda: real() + services.INVITATION_MAX_AGE + 5)
    assert client.get(f"/account/invitation/{token}").status_code == 404


def test_inviting_a_known_address_answers_the_same(client, app, people, outbox, auth):
    auth.member(people.org_a)
    token = csrf_token(client, "/my/organisation/colleagues")
    known = client.post("/my/organisation/colleagues", data={"csrf_token": token,
                                                             "email": "bob@b.example"},
                        follow_redirects=True)
    unknown = client.post("/my/organisation/colleagues", data={"csrf_token": token,
                                                               "email": "dave@a.example"},
                          follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    flash = "If this address has no account yet, an invitation is on its way."
    assert flash in known.get_data(as_text=True) and flash in unknown.get_data(as_text=True)
    assert [m.recipients for m in outbox] == [["dave@a.example"]]


def test_revoked_invitation_link_is_dead(client, app, people, auth):
    with app.app_context():
        token = services.invitation_token(_db.session.get(Invitation, people.invitation_b))
    auth.member(people.org_b)
    csrf = csrf_token(client, "/my/organisation/colleagues")
    response = client.post(f"/my/organisation/invitations/{people.invitation_b}/revoke",
                           data={"csrf_token": csrf})
    assert response.status_code == 302
    assert app.test_client().get(f"/account/invitation/{token}").status_code == 404


def test_login_does_the_same_work_for_known_and_unknown_addresses(app, people, monkeypatch):
    """One Argon2 computation whatever the address: timing does not tell who has an account."""
    from objectwar import security

    calls = []
    real = security.verify_password
    monkeypatch.setattr(security, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    with app.test_request_context():
        for email in ("alice@a.example", "nobody@a.example", "not an address"):
            calls.clear()
            assert services.authenticate(email, "wrong password here") is None
            assert len(calls) == 1, email
