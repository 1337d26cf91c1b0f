"""A stranger's guesses slow the stranger, not the owner; the password page counts guesses too."""

from __future__ import annotations

from objectwar import security
from objectwar.extensions import db as _db
from tests.factories import MEMBER_PASSWORD
from tests.helpers import csrf_token

OWNER = "alice@a.example"
OWNER_PASSWORD = MEMBER_PASSWORD


def _client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _csrf(client, path: str = "/account/password") -> str:
    return csrf_token(client, path)


def test_a_strangers_wrong_passwords_do_not_keep_the_owner_out(app, auth, people):
    from objectwar.accounts.models import User

    owner = _client_at(app, "198.51.100.7")
    assert auth.login(OWNER, OWNER_PASSWORD, client=owner).status_code == 302  # the owner's browser, known from now on
    assert auth.logout(client=owner).status_code == 302

    stranger = _client_at(app, "203.0.113.9")
    for attempt in range(7):
        assert auth.login(OWNER, f"guess number {attempt}", client=stranger).status_code == 422
    with app.app_context():
        assert _db.session.get(User, people.member_a).failed_logins == 5  # the rest went unheard
    # The guesser is slowed: not even the right password is heard from there now...
    assert auth.login(OWNER, OWNER_PASSWORD, client=stranger).status_code == 422
    # ...while the owner logs in at once, from their browser, at another address too.
    owner.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    assert auth.login(OWNER, OWNER_PASSWORD, client=owner).status_code == 302
    assert owner.get("/my/organisation").status_code == 200


def test_a_forged_device_cookie_does_not_lift_the_lock(app, auth, people):
    from objectwar.accounts.services import DEVICE_COOKIE

    stranger = _client_at(app, "203.0.113.9")
    for attempt in range(5):
        assert auth.login(OWNER, f"guess number {attempt}", client=stranger).status_code == 422
    other = _client_at(app, "203.0.113.10")
    other.set_cookie(DEVICE_COOKIE, "forged", path="/account/login")
    assert auth.login(OWNER, OWNER_PASSWORD, client=other).status_code == 422  # the account waits for strangers


def test_the_password_page_throttles_guesses_of_the_current_password(app, auth, people):
    from objectwar.accounts.models import User

    client = _client_at(app, "198.51.100.7")
    assert auth.login(OWNER, OWNER_PASSWORD, client=client).status_code == 302
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

