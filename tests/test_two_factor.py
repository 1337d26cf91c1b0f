"""Two-factor login: setting it up, logging in with a code or a recovery code, replays,
throttling, the rule for coordinators and the reset by another coordinator."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from conftest import raw_engine
from playwright.sync_api import expect
from sqlalchemy import func, select, text

from config import ConfigError, DevelopmentConfig, ProductionConfig
from objectwar.accounts import services, two_factor
from objectwar.accounts.models import RecoveryCode, User
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from tests.factories import (
    COORDINATOR_PASSWORD,
    MEMBER_PASSWORD,
    SECOND_COORDINATOR_EMAIL,
    SECOND_COORDINATOR_PASSWORD,
)
from tests.helpers import csrf_token, login_as

SETUP = "/account/two-factor"
CODE_STEP = "/account/login/code"
MEMBER = "alice@a.example"
COORDINATOR = "coord@campaign.example"
CODE_PATTERN = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")


class Clock:
    """The time two-factor codes are checked against; a test moves it (no sleeping)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) // 30 * 30 + 5)  # 5 seconds into a time step

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """A fixed clock for the codes' checks; ``totp.at(clock.now)`` is the current code."""
    fixed = Clock()
    monkeypatch.setattr(two_factor, "clock", lambda: fixed.now)
    return fixed


def send_code(client, code: str, recovery: bool = False):
    path = CODE_STEP + ("?recovery=1" if recovery else "")
    # The token of the session (the code page itself sends a stale login back to the start).
    return client.post(path, data={"csrf_token": csrf_token(client, "/account/login"), "code": code})


def secret_of(app, user_id: int) -> str | None:
    with app.app_context():
        return _db.session.get(User, user_id).totp_secret


def user_state(app, user_id: int) -> User:
    with app.app_context():
        user = _db.session.get(User, user_id)
        _db.session.expunge(user)
        return user


def enable(app, user_id: int, clock: Clock) -> tuple[pyotp.TOTP, list[str]]:
    """Switch two-factor login on for a user (the service, as the set-up page does)."""
    with app.test_request_context():
        user = _db.session.get(User, user_id)
        secret, mark = two_factor.begin_enrolment(user)
        totp = pyotp.TOTP(secret)
        codes = two_factor.enable(user, totp.at(clock.now), mark)
    clock.advance(30)  # the set-up's code is spent; the next step's code is fresh
    return totp, codes


def wrong_code(totp: pyotp.TOTP, clock: Clock) -> str:
    """Six digits that are no code of the window around now."""
    near = {totp.at(clock.now + offset) for offset in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(_db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                        .order_by(AuditEvent.id)))


# -- setting it up ---------------------------------------------------------------------------


def test_the_set_up_page_shows_a_qr_code_and_the_key_kept_encrypted(app, client, people, database_urls,
                                                                     backend, auth):
    auth.member(people.org_a)
    page = client.get(SETUP)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<svg' in html and 'class="qr-code"' in html  # inline: no image from elsewhere
    assert "<title>QR code of the key for your authenticator app</title>" in html
    secret = secret_of(app, people.member_a)
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in html  # to type by hand
    assert 'href="otpauth://totp/' in html
    assert re.search(r'<input[^>]*autocomplete="one-time-code"[^>]*inputmode="numeric"', html)
    assert re.search(r'<label for="code">Code from your authenticator app', html)
    # The same key on a second look (a page reloaded while scanning), and not yet in force.
    client.get(SETUP)
    assert secret_of(app, people.member_a) == secret
    assert not user_state(app, people.member_a).has_two_factor
    engine = raw_engine(database_urls[backend])
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT totp_secret FROM users WHERE id = :id"),
                              {"id": people.member_a}).scalar_one()
    engine.dispose()
    assert stored and secret not in stored and stored.startswith("gAAAA")  # a Fernet token


def test_a_set_up_begun_by_someone_else_is_replaced_not_completed(app, people, clock):
    """A phished password opens the set-up page and copies its key: the owner's own
    set-up replaces it, and the copied key never becomes the second factor."""
    attacker = login_as(app.test_client(), app, people.member_a)
    attacker_token = csrf_token(attacker, "/account/password")
    attacker.get(SETUP)
    planted = secret_of(app, people.member_a)
    owner = login_as(app.test_client(), app, people.member_a)
    owner_token = csrf_token(owner, "/account/password")
    owner.get(SETUP)
    assert secret_of(app, people.member_a) != planted  # the owner's own visit: a key of its own
    # The planted key's code switches nothing on, in the owner's session or the attacker's.
    code = pyotp.TOTP(planted).at(clock.now)
    assert owner.post(SETUP, data={"csrf_token": owner_token, "code": code}).status_code == 422
    assert attacker.post(SETUP, data={"csrf_token": attacker_token, "code": code}).status_code == 409
    assert not user_state(app, people.member_a).has_two_factor
    # The owner sets it up with the key their own page shows.
    owner.get(SETUP)
    clock.advance(30)
    mine = pyotp.TOTP(secret_of(app, people.member_a))
    answer = owner.post(SETUP, data={"csrf_token": owner_token, "code": mine.at(clock.now)})
    assert answer.status_code == 200 and user_state(app, people.member_a).has_two_factor
    assert secret_of(app, people.member_a) != planted


def test_a_wrong_code_is_refused_at_the_field_and_changes_nothing(app, client, people, clock, auth):
    auth.member(people.org_a)
    client.get(SETUP)
    totp = pyotp.TOTP(secret_of(app, people.member_a))
    for code in (wrong_code(totp, clock), "", "12345", "abcdef"):
        answer = client.post(SETUP, data={"csrf_token": csrf_token(client, SETUP), "code": code})
        assert answer.status_code == 422
        html = answer.get_data(as_text=True)
        assert '<p class="field-error" id="code-error">This code is not right.' in html
        assert 'aria-invalid="true"' in html
    state = user_state(app, people.member_a)
    assert not state.has_two_factor and state.totp_last_step is None
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0


def test_the_right_code_switches_it_on_and_shows_recovery_codes_once(app, client, people, clock,
                                                                     database_urls, backend, auth):
    auth.member(people.org_a)
    other = login_as(app.test_client(), app, people.member_a)  # another device of the member
    client.get(SETUP)
    totp = pyotp.TOTP(secret_of(app, people.member_a))
    answer = client.post(SETUP, data={"csrf_token": csrf_token(client, SETUP),
                                      "code": totp.at(clock.now)})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    html = answer.get_data(as_text=True)
    codes = CODE_PATTERN.findall(html)
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT == len(set(codes))
    assert "Save these codes now." in html
    assert user_state(app, people.member_a).has_two_factor
    # This session goes on; the others were made without the second factor and end.
    assert client.get("/my/organisation").status_code == 200
    assert other.get("/my/organisation").status_code == 302
    # Never shown again: the page now says how it stands.
    again = client.get(SETUP).get_data(as_text=True)
    assert "10 unused recovery codes are left." in again
    assert not any(code in again for code in codes)
    # Stored as keyed digests only: no table holds a code, with or without its hyphen.
    engine = raw_engine(database_urls[backend])
    with engine.connect() as conn:
        digests = conn.execute(text("SELECT code_digest FROM recovery_codes WHERE user_id = :id"),
                               {"id": people.member_a}).scalars().all()
        everything = " ".join(str(row) for table in ("users", "recovery_codes", "audit_events")
                              for row in conn.execute(text(f"SELECT * FROM {table}")).all())  # noqa: S608
    engine.dispose()
    assert len(digests) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    for code in codes:
        assert code not in everything and code.replace("-", "") not in everything
    (event,) = audit(app, "user.two_factor_enabled")
    assert event.actor_id == event.target_id == people.member_a


# -- logging in ---------------------------------------------------------------------------


def test_login_asks_for_the_code_after_the_password(app, client, people, clock, auth):
    totp, _codes = enable(app, people.member_a, clock)
    answer = auth.login(MEMBER, MEMBER_PASSWORD, next_="/my/organisation/colleagues")
    assert answer.status_code == 302 and answer.headers["Location"] == CODE_STEP
    with client.session_transaction() as session:
        assert "_user_id" not in session  # waiting for the code is no login
    assert client.get("/my/organisation").status_code == 302
    page = client.get(CODE_STEP).get_data(as_text=True)
    assert re.search(r'<input[^>]*autocomplete="one-time-code"[^>]*inputmode="numeric"', page)
    answer = send_code(client, totp.at(clock.now))
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/my/organisation/colleagues"
    assert any(cookie.startswith(services.DEVICE_COOKIE + "=")
               for cookie in answer.headers.getlist("Set-Cookie"))  # a browser its owner used
    assert client.get("/my/organisation").status_code == 200
    with client.session_transaction() as session:
        assert "two_factor_login" not in session
    state = user_state(app, people.member_a)
    assert state.last_login_at is not None and state.failed_logins == 0


def test_a_code_works_once(app, people, clock, auth):
    totp, _codes = enable(app, people.member_a, clock)
    first, second = app.test_client(), app.test_client()
    code = totp.at(clock.now)
    auth.login(MEMBER, MEMBER_PASSWORD, client=first)
    assert send_code(first, code).status_code == 302
    auth.login(MEMBER, MEMBER_PASSWORD, client=second)
    replay = send_code(second, code)
    assert replay.status_code == 422
    assert "it was used already" in replay.get_data(as_text=True)
    # An older step of the window is no way round it either; the next step's code works.
    assert send_code(second, totp.at(clock.now - 30)).status_code == 422
    clock.advance(30)
    assert send_code(second, totp.at(clock.now)).status_code == 302


def test_a_code_outside_the_window_is_refused(app, client, people, clock, auth):
    totp, _codes = enable(app, people.member_a, clock)
    auth.login(MEMBER, MEMBER_PASSWORD)
    assert send_code(client, totp.at(clock.now - 90)).status_code == 422
    assert send_code(client, totp.at(clock.now + 90)).status_code == 422
    assert send_code(client, totp.at(clock.now + 30)).status_code == 302  # a phone a little ahead


def test_a_recovery_code_logs_in_once_and_says_how_many_are_left(app, people, clock, auth):
    _totp, codes = enable(app, people.member_a, clock)
    client = app.test_client()
    auth.login(MEMBER, MEMBER_PASSWORD, client=client)
    page = client.get(CODE_STEP + "?recovery=1").get_data(as_text=True)
    assert '<label for="code">Recovery code' in page and 'inputmode="numeric"' not in page
    answer = send_code(client, codes[3].upper().replace("-", " "), recovery=True)  # as typed
    assert answer.status_code == 302 and answer.headers["Location"] == "/my/organisation"
    landing = client.get("/my/organisation").get_data(as_text=True)
    assert "You logged in with a recovery code. It will not work again: 9 codes are left." in landing
    (event,) = audit(app, "user.recovery_code_used")
    assert event.target_id == people.member_a and event.details == {"remaining": 9}
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.used_at.is_not(None))) == 1
    again = app.test_client()
    auth.login(MEMBER, MEMBER_PASSWORD, client=again)
    assert send_code(again, codes[3], recovery=True).status_code == 422
    assert send_code(again, codes[4], recovery=True).status_code == 302


def test_wrong_codes_are_throttled_like_wrong_passwords(app, people, clock, auth):
    totp, codes = enable(app, people.member_a, clock)
    client = app.test_client()
    auth.login(MEMBER, MEMBER_PASSWORD, client=client)
    for _attempt in range(services.LOCK_AFTER - 1):
        assert send_code(client, wrong_code(totp, clock)).status_code == 422
    # A right password again does not wipe the wrong codes out.
    auth.login(MEMBER, MEMBER_PASSWORD, client=client)
    assert user_state(app, people.member_a).failed_logins == services.LOCK_AFTER - 1
    assert send_code(client, "not-a-code").status_code == 422
    state = user_state(app, people.member_a)
    assert state.failed_logins == services.LOCK_AFTER and state.locked_until is not None
    last_step = user_state(app, people.member_a).totp_last_step
    # Throttled now: neither the right code nor a recovery code is heard...
    for code in (totp.at(clock.now), codes[0]):
        answer = send_code(client, code)
        assert answer.status_code == 422
        assert "too many attempts" in answer.get_data(as_text=True)
    assert user_state(app, people.member_a).totp_last_step == last_step  # the code is not spent
    assert client.get("/my/organisation").status_code == 302
    # ...until the wait is over (and this client's window of guesses).
    from objectwar.extensions import limiter

    with app.app_context():
        user = _db.session.get(User, people.member_a)
        user.locked_until = user.locked_until.replace(year=2000)
        _db.session.commit()
        limiter.reset()
    assert send_code(client, totp.at(clock.now)).status_code == 302
    assert user_state(app, people.member_a).failed_logins == 0


def test_every_code_spends_the_accounts_budget_before_it_is_checked(app, people, clock):
    """Guesses sent at once from many clients cannot all pass a check made before any
    counts: each attempt, right or wrong, spends ``TWO_FACTOR_CODE_LIMIT`` first."""
    app.config["TWO_FACTOR_CODE_LIMIT"] = "3 per 5 minutes"
    totp, _codes = enable(app, people.member_a, clock)
    with app.test_request_context():
        user = _db.session.get(User, people.member_a)
        for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):  # three places, one each
            with pytest.raises(two_factor.ValidationError):
                two_factor.complete_login(user, wrong_code(totp, clock), client=client)
        with pytest.raises(two_factor.ValidationError) as refused:
            two_factor.complete_login(user, totp.at(clock.now), client="203.0.113.4")
        assert "too many attempts" in str(refused.value.errors["code"])
        assert user.totp_last_step != int(clock.now) // 30  # the right code was not heard
        assert _db.session.get(User, people.member_a).failed_logins == 3  # each counted in SQL


def test_the_code_must_follow_the_password_within_five_minutes(app, client, people, clock, auth):
    totp, _codes = enable(app, people.member_a, clock)
    auth.login(MEMBER, MEMBER_PASSWORD)
    with client.session_transaction() as session:
        pending = session["two_factor_login"]
        session["two_factor_login"] = {**pending, "t": pending["t"] - 301}
    answer = send_code(client, totp.at(clock.now))
    assert answer.status_code == 302 and answer.headers["Location"] == "/account/login"
    assert client.get("/my/organisation").status_code == 302
    assert client.get(CODE_STEP).headers["Location"] == "/account/login"  # and it is gone


def test_a_new_password_ends_a_login_waiting_for_its_code(app, client, people, clock, auth):
    totp, _codes = enable(app, people.member_a, clock)
    auth.login(MEMBER, MEMBER_PASSWORD)
    with app.app_context():
        services.end_sessions(_db.session.get(User, people.member_a))
    assert send_code(client, totp.at(clock.now)).headers["Location"] == "/account/login"


# -- recovery codes and switching it off ---------------------------------------------------------


def test_new_recovery_codes_replace_the_old_ones(app, client, people, clock, auth):
    totp, old = enable(app, people.member_a, clock)
    auth.member(people.org_a)
    token = csrf_token(client, SETUP)
    wrong = client.post("/account/two-factor/recovery-codes",
                        data={"renew-csrf_token": token, "renew-proof": "not my password at all"})
    assert wrong.status_code == 422
    assert ('<p class="field-error" id="renew-proof-error">This is neither your password nor a '
            'current code from your app.') in wrong.get_data(as_text=True)
    answer = client.post("/account/two-factor/recovery-codes",
                         data={"renew-csrf_token": token, "renew-proof": totp.at(clock.now)})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    new = CODE_PATTERN.findall(answer.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert audit(app, "user.recovery_codes_renewed")
    visitor = app.test_client()
    auth.login(MEMBER, MEMBER_PASSWORD, client=visitor)
    assert send_code(visitor, old[0], recovery=True).status_code == 422
    assert send_code(visitor, new[0], recovery=True).status_code == 302


def test_a_member_may_switch_it_off_with_the_password(app, client, people, clock, auth):
    enable(app, people.member_a, clock)
    auth.member(people.org_a)
    page = client.get(SETUP).get_data(as_text=True)
    assert "Switch two-factor login off" in page
    token = csrf_token(client, SETUP)
    wrong = client.post("/account/two-factor/disable",
                        data={"disable-csrf_token": token, "disable-proof": "a wrong passphrase!"})
    assert wrong.status_code == 422 and user_state(app, people.member_a).has_two_factor
    answer = client.post("/account/two-factor/disable",
                         data={"disable-csrf_token": token, "disable-proof": MEMBER_PASSWORD})
    assert answer.status_code == 302
    state = user_state(app, people.member_a)
    assert not state.has_two_factor and state.totp_secret is None
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert audit(app, "user.two_factor_disabled")
    assert auth.login(MEMBER, MEMBER_PASSWORD, client=app.test_client()).headers["Location"] == "/my/organisation"


# -- coordinators: required ---------------------------------------------------------------------


@pytest.fixture
def required(app):
    app.config["COORDINATOR_2FA"] = "required"


def test_members_need_no_second_factor_even_when_coordinators_do(app, client, people, required, auth):
    answer = auth.login(MEMBER, MEMBER_PASSWORD)
    assert answer.headers["Location"] == "/my/organisation"
    assert client.get("/my/organisation").status_code == 200


def test_a_coordinator_without_it_must_set_it_up_and_reaches_nothing_else(app, client, people,
                                                                         required, clock, auth):
    answer = auth.login(COORDINATOR, COORDINATOR_PASSWORD, next_="/admin/petitions")
    assert answer.status_code == 302 and answer.headers["Location"] == SETUP
    for path in ("/admin/", "/admin/organisations", "/admin/coordinators", "/admin/audit",
                 "/account/password", "/my/organisation", "/", "/account/login"):
        blocked = client.get(path)
        assert blocked.status_code == 302 and blocked.headers["Location"] == SETUP, path
    token = csrf_token(client, SETUP)
    posted = client.post("/admin/coordinators", data={"csrf_token": token,
                                                      "email": "new@campaign.example"})
    assert posted.headers["Location"] == SETUP
    page = client.get(SETUP).get_data(as_text=True)
    assert "Coordinators log in with their password and a code" in page
    totp = pyotp.TOTP(secret_of(app, people.coordinator))
    assert client.post(SETUP, data={"csrf_token": token, "code": totp.at(clock.now)}).status_code == 200
    assert client.get("/admin/").status_code == 200
    # From now on the login asks for the code.
    clock.advance(30)
    other = app.test_client()
    assert auth.login(COORDINATOR, COORDINATOR_PASSWORD, client=other).headers["Location"] == CODE_STEP
    assert send_code(other, totp.at(clock.now)).headers["Location"] == "/admin/organisations"


def test_an_api_token_of_a_coordinator_without_it_still_works(app, people, required):
    """Left as it is: tokens are made on the server (``flask create-token``), not by a login."""
    with app.test_request_context():
        token = services.create_api_token(COORDINATOR, "script")
    answer = app.test_client().get("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_a_coordinator_cannot_switch_it_off_while_it_is_required(app, client, people, required, clock, auth):
    enable(app, people.coordinator, clock)
    auth.coordinator()
    page = client.get(SETUP).get_data(as_text=True)
    assert "Switch two-factor login off" not in page and "Coordinators must use two-factor" in page
    answer = client.post("/account/two-factor/disable",
                         data={"disable-csrf_token": csrf_token(client, SETUP),
                               "disable-proof": COORDINATOR_PASSWORD})
    assert answer.status_code == 409
    assert user_state(app, people.coordinator).has_two_factor


def test_a_coordinator_may_switch_it_off_when_optional(app, client, people, clock, auth):
    enable(app, people.coordinator, clock)
    auth.coordinator()
    answer = client.post("/account/two-factor/disable",
                         data={"disable-csrf_token": csrf_token(client, SETUP),
                               "disable-proof": COORDINATOR_PASSWORD})
    assert answer.status_code == 302 and not user_state(app, people.coordinator).has_two_factor


# -- reset by another coordinator ------------------------------------------------------------------


def test_another_coordinator_resets_it_and_their_sessions_end(app, people, second_coordinator, required, clock, auth):
    totp, _codes = enable(app, second_coordinator, clock)
    theirs = app.test_client()
    auth.login(SECOND_COORDINATOR_EMAIL, SECOND_COORDINATOR_PASSWORD, client=theirs)
    assert send_code(theirs, totp.at(clock.now)).status_code == 302
    assert theirs.get("/admin/").status_code == 200

    enable(app, people.coordinator, clock)
    mine = login_as(app.test_client(), app, people.coordinator)
    listing = mine.get("/admin/coordinators").get_data(as_text=True)
    path = f"/admin/coordinators/{second_coordinator}/reset-two-factor"
    assert f'href="{path}"' in listing
    assert f"/admin/coordinators/{people.coordinator}/reset-two-factor" not in listing
    assert "Reset the two-factor login of second@campaign.example?" in mine.get(path).get_data(
        as_text=True)
    assert mine.get(path).status_code == 200 and user_state(app, second_coordinator).has_two_factor  # GET: nothing
    answer = mine.post(path, data={"csrf_token": csrf_token(mine, path)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/coordinators"
    state = user_state(app, second_coordinator)
    assert not state.has_two_factor and state.totp_secret is None
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == second_coordinator)) == 0
    assert theirs.get("/admin/").status_code == 302  # logged out
    (event,) = audit(app, "coordinator.two_factor_reset")
    assert (event.actor_id, event.target_type, event.target_id) == (people.coordinator, "user", second_coordinator)
    assert "@" not in repr(event.details)
    # At their next login they set it up again.
    again = app.test_client()
    assert auth.login(SECOND_COORDINATOR_EMAIL, SECOND_COORDINATOR_PASSWORD, client=again).headers["Location"] == SETUP
    assert again.get("/admin/").headers["Location"] == SETUP


def test_no_reset_of_ones_own_nor_of_a_member_nor_without_csrf(app, people, second_coordinator, clock):
    enable(app, people.coordinator, clock)
    mine = login_as(app.test_client(), app, people.coordinator)
    own = f"/admin/coordinators/{people.coordinator}/reset-two-factor"
    assert "You cannot reset your own two-factor login here." in mine.get(own).get_data(as_text=True)
    answer = mine.post(own, data={"csrf_token": csrf_token(mine, own)})
    assert answer.status_code == 409 and user_state(app, people.coordinator).has_two_factor
    off = f"/admin/coordinators/{second_coordinator}/reset-two-factor"
    assert mine.post(off, data={"csrf_token": csrf_token(mine, off)}).status_code == 409
    member = f"/admin/coordinators/{people.member_a}/reset-two-factor"
    assert mine.get(member).status_code == 404
    enable(app, second_coordinator, clock)
    assert mine.post(f"/admin/coordinators/{second_coordinator}/reset-two-factor").status_code == 400
    assert user_state(app, second_coordinator).has_two_factor
    assert audit(app, "coordinator.two_factor_reset") == []


# -- configuration -------------------------------------------------------------------------------


def test_the_setting_is_checked_and_required_in_production(monkeypatch, tmp_path):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "aaV43EQEwVdcqtaydpduEmKmBtEbOSInsbsh8d9Vxgq9pQdG")
    monkeypatch.setenv("DATA_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("COORDINATOR_2FA", raising=False)
    assert ProductionConfig().COORDINATOR_2FA == "required"
    assert DevelopmentConfig().COORDINATOR_2FA == "optional"
    monkeypatch.setenv("COORDINATOR_2FA", " Optional ")
    assert ProductionConfig().COORDINATOR_2FA == "optional"
    monkeypatch.setenv("COORDINATOR_2FA", "sometimes")
    with pytest.raises(ConfigError, match="COORDINATOR_2FA must be 'required' or 'optional'"):
        ProductionConfig()


# -- the migration ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_the_migration_adds_and_drops_the_columns_and_table(engine_name, tmp_path):
    import os

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import create_engine, inspect

    from objectwar import create_app
    from tests.conftest import PG_URL

    if engine_name == "postgresql":
        if not PG_URL:
            pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
        from tests.conftest import scratch_postgres

        url = scratch_postgres()
    else:
        url = f"sqlite:///{tmp_path}/migrate.db"
    os.environ["INSTANCE_PATH"] = str(tmp_path)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade(revision="5e7c1a9d3f20")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, email_digest, email, role, locale, active, "
                              "failed_logins, session_version, created_at) VALUES (1, 'd', 'x', "
                              "'coordinator', 'en', true, 0, 1, CURRENT_TIMESTAMP)"))
        upgrade(revision="46253f1822ab")
        with engine.begin() as conn:
            row = conn.execute(text("SELECT totp_secret, totp_enabled_at, totp_last_step FROM users"
                                    )).one()
            assert tuple(row) == (None, None, None)  # nobody has two-factor login yet
            conn.execute(text("INSERT INTO recovery_codes (user_id, code_digest, created_at) "
                              "VALUES (1, 'c', CURRENT_TIMESTAMP)"))
        downgrade(revision="5e7c1a9d3f20")
        inspector = inspect(engine)
        assert "recovery_codes" not in inspector.get_table_names()
        assert not {"totp_secret", "totp_enabled_at", "totp_last_step"} & {
            column["name"] for column in inspector.get_columns("users")}
        engine.dispose()
        from objectwar.extensions import db

        db.engine.dispose()


# -- in a browser -----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_a_coordinator_sets_it_up_and_logs_in_on_a_phone_without_javascript(
        app, browser, live_server, people, required, clock):
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()

    def fits() -> None:
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.url

    try:
        page.goto(f"{live_server}/admin/")
        page.fill("#email", COORDINATOR)
        page.fill("#password", COORDINATOR_PASSWORD)
        page.click("#content form button[type=submit]")
        expect(page).to_have_url(re.compile(re.escape(SETUP) + "$"))
        fits()
        assert page.locator("#content svg.qr-code").count() == 1
        totp = pyotp.TOTP(page.inner_text("code.two-factor-key").replace(" ", ""))
        page.fill("#code", totp.at(clock.now))
        page.click("#content form[novalidate] button[type=submit]")
        assert "Save these codes now." in page.inner_text("#content")
        fits()
        assert page.locator("ol.recovery-codes li").count() == 10
        page.click("text=I have saved the codes: continue")
        expect(page).to_have_url(re.compile(re.escape("/admin/organisations") + "$"))
        page.click("header button[type=submit]")  # log out

        clock.advance(30)
        page.goto(f"{live_server}/admin/")
        page.fill("#email", COORDINATOR)
        page.fill("#password", COORDINATOR_PASSWORD)
        page.click("#content form button[type=submit]")
        expect(page).to_have_url(re.compile(re.escape(CODE_STEP) + "$"))
        fits()
        page.fill("#code", wrong_code(totp, clock))
        page.click("#content form button[type=submit]")
        assert "This code is not right" in page.inner_text("#code-error")
        fits()
        page.fill("#code", totp.at(clock.now))
        page.click("#content form button[type=submit]")
        expect(page).to_have_url(re.compile(re.escape("/admin/") + "$"))
        page.goto(f"{live_server}{SETUP}")
        fits()
    finally:
        context.close()


def test_the_operator_resets_the_last_coordinators_lost_second_factor(app, people, runner, required, clock):
    """The only coordinator lost the phone and the codes: ``flask reset-two-factor`` on the server."""
    enable(app, people.coordinator, clock)
    theirs = login_as(app.test_client(), app, people.coordinator)
    result = runner.invoke(args=["reset-two-factor", "coord@campaign.example"])
    assert result.exit_code == 0, result.output
    assert not user_state(app, people.coordinator).has_two_factor
    assert theirs.get("/admin/").status_code == 302  # their sessions ended
    (event,) = audit(app, "user.two_factor_reset_by_operator")
    assert (event.actor_id, event.target_id) == (None, people.coordinator)
    again = runner.invoke(args=["reset-two-factor", "coord@campaign.example"])
    assert again.exit_code == 1 and "Two-factor login is off." in again.output
    nobody = runner.invoke(args=["reset-two-factor", "nobody@campaign.example"])
    assert nobody.exit_code == 1 and "No active user has this address." in nobody.output
