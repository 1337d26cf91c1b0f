"""A logged-in session ends after 30 minutes idle and 12 hours at most (both configurable)."""

from __future__ import annotations

import time

import pytest

from tests.factories import COORDINATOR_PASSWORD, MEMBER_PASSWORD


def _age_session(client, idle_minutes: float = 0, hours_since_login: float = 0) -> None:
    with client.session_transaction() as session:
        session["seen_at"] = int(time.time() - idle_minutes * 60)
        session["login_at"] = int(time.time() - hours_since_login * 3600)


@pytest.mark.parametrize("who, email, password, page", [
    ("member", "alice@a.example", MEMBER_PASSWORD, "/my/organisation"),
    ("coordinator", "coord@campaign.example", COORDINATOR_PASSWORD, "/admin/organisations"),
])
def test_a_session_ends_after_30_idle_minutes_and_12_hours(client, auth, people, who, email, password,
                                                            page):
    assert auth.login(email, password).status_code == 302
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

    assert auth.login(email, password).status_code == 302
    _age_session(client, idle_minutes=0, hours_since_login=12.1)  # in use all the time, still
    answer = client.get(page)
    assert answer.status_code == 302 and "/account/login" in answer.headers["Location"]


def test_a_session_from_before_the_rule_ends(client, app, people, auth):

    auth.member(people.org_a)
    with client.session_transaction() as session:
        del session["login_at"], session["seen_at"]
    assert client.get("/my/organisation").status_code == 302


def test_session_lifetimes_are_configurable(app, auth, people, monkeypatch):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    client = app.test_client()
    assert auth.login("alice@a.example", MEMBER_PASSWORD, client=client).status_code == 302
    _age_session(client, idle_minutes=6)
    assert client.get("/my/organisation").status_code == 302
    assert auth.login("alice@a.example", MEMBER_PASSWORD, client=client).status_code == 302
    _age_session(client, hours_since_login=1.1)
    assert client.get("/my/organisation").status_code == 302
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "45")
    monkeypatch.setenv("SESSION_MAX_HOURS", "8")
    from config import config_for

    configured = config_for("testing")
    assert (configured.SESSION_IDLE_MINUTES, configured.SESSION_MAX_HOURS) == (45, 8)

