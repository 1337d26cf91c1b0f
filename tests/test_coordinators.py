"""``/admin/coordinators``: coordinators invite, deactivate and reactivate each other;
the last active coordinator stays."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from objectwar.accounts import coordinators, services
from objectwar.accounts.models import Invitation, Role, User
from objectwar.audit.models import AuditEvent
from objectwar.errors import Conflict, NotFound
from objectwar.extensions import db as _db
from objectwar.mail.models import Notice
from objectwar.organisations.models import Organisation
from objectwar.types import utcnow
from tests.factories import (
    COORDINATOR_PASSWORD,
    MEMBER_PASSWORD,
    SECOND_COORDINATOR_EMAIL,
    SECOND_COORDINATOR_PASSWORD,
)
from tests.helpers import csrf_token, link_in, login_as

PAGE = "/admin/coordinators"
INVITED_TO_COORDINATE = ("You are invited to coordinate the #ObjectWarCampaign: to decide on partner "
                         "organisations, run petitions and send mail-outs. Choose your password here:")


def as_user(app, user_id: int | None):
    return login_as(app.test_client(), app, user_id)


def invite(client, email: str, locale: str = "en"):
    token = csrf_token(client, PAGE)
    return client.post(PAGE, data={"csrf_token": token, "email": email, "locale": locale})


def confirm(client, user_id: int, action: str):
    path = f"{PAGE}/{user_id}/{action}"
    return client.post(path, data={"csrf_token": csrf_token(client, path)})


def audit_events(app, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(_db.session.scalars(query))


def assert_no_address_in_the_log(app) -> None:
    for event_ in audit_events(app):
        assert "@" not in repr(event_.details), (event_.action, event_.details)


def coordinator_state(app, user_id: int) -> tuple[bool, int]:
    with app.app_context():
        user = _db.session.get(User, user_id)
        return user.active, user.session_version


# -- invitations ------------------------------------------------------------------------


def test_an_invited_coordinator_joins_and_reaches_the_admin(app, people, outbox):
    client = as_user(app, people.coordinator)
    response = invite(client, "new.coord@campaign.example")
    assert response.status_code == 302 and response.headers["Location"] == PAGE
    (message,) = outbox
    assert message.recipients == ["new.coord@campaign.example"]
    assert "invited to coordinate the #ObjectWarCampaign" in message.body
    assert "invited to coordinate the #ObjectWarCampaign" in message.html
    listing = client.get(PAGE).get_data(as_text=True)
    assert "Open invitations" in listing and "new.coord@campaign.example" in listing

    path = link_in(message, "/account/invitation/")
    visitor = app.test_client()
    assert "You are joining the coordinators" in visitor.get(path).get_data(as_text=True)
    token = csrf_token(visitor, path)
    response = visitor.post(path, data={"csrf_token": token, "password": "a new coordinator's phrase",
                                        "confirm": "a new coordinator's phrase"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/organisations"
    assert visitor.get("/admin/").status_code == 200
    assert visitor.get(PAGE).status_code == 200
    assert app.test_client().get(path).status_code == 404  # used
    with app.app_context():
        user = services.find_user_by_email("new.coord@campaign.example")
        assert user.role == Role.COORDINATOR and user.organisation_id is None and user.active
        assert _db.session.scalar(select(Invitation).where(
            Invitation.role == Role.COORDINATOR)).accepted_at is not None
    assert "Open invitations" not in client.get(PAGE).get_data(as_text=True)
    (invited,) = audit_events(app, "coordinator.invite")
    assert invited.actor_id == people.coordinator and invited.target_type == "invitation"
    (joined,) = audit_events(app, "user.join")
    assert joined.details["role"] == "coordinator" and joined.details["organisation_id"] is None
    assert_no_address_in_the_log(app)


def test_the_invitation_email_is_in_the_chosen_language(app, people, outbox):
    from flask_babel import force_locale, gettext

    assert invite(as_user(app, people.coordinator), "neu@campaign.example", "de").status_code == 302
    (message,) = outbox
    with app.test_request_context(), force_locale("de"):
        text = gettext(INVITED_TO_COORDINATE)
    assert text != INVITED_TO_COORDINATE
    assert text in message.body and INVITED_TO_COORDINATE not in message.body


@pytest.mark.parametrize(("email", "locale", "field", "message"), [
    ("", "en", "email", "This field is required."),
    ("not an address", "en", "email", "This does not look like an email address."),
    ("someone@campaign.example", "xx", "locale", "Choose one of the languages offered."),
    ("alice@a.example", "en", "email", "This address belongs to an account already."),
    ("COORD@campaign.example", "en", "email", "This address belongs to an account already."),
])
def test_a_refused_invitation_says_why_at_its_field_and_changes_nothing(
        app, people, outbox, email, locale, field, message):
    response = invite(as_user(app, people.coordinator), email, locale)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">{message}' in html
    assert outbox == []
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(Notice)) == 0
        assert _db.session.scalar(select(func.count()).where(
            Invitation.role == Role.COORDINATOR)) == 0
    assert audit_events(app, "coordinator.invite") == []


def test_an_open_invitation_is_not_sent_twice_and_an_expired_one_does_not_count(app, people, outbox):
    client = as_user(app, people.coordinator)
    assert invite(client, "twice@campaign.example").status_code == 302
    again = invite(client, "Twice@campaign.example")
    assert again.status_code == 422
    assert "This address has an open invitation already." in again.get_data(as_text=True)
    assert len(outbox) == 1
    with app.app_context():
        invitation = _db.session.scalar(select(Invitation).where(Invitation.role == Role.COORDINATOR))
        invitation.created_at = utcnow() - timedelta(seconds=services.INVITATION_MAX_AGE + 60)
        _db.session.commit()
    assert invite(client, "twice@campaign.example").status_code == 302
    assert len(outbox) == 2


def test_an_address_invited_to_an_organisation_is_not_invited_to_coordinate(app, people, outbox):
    with app.test_request_context():
        services.invite(_db.session.get(Organisation, people.org_a), "member.to.be@a.example", "en",
                        None)
        _db.session.commit()
    response = invite(as_user(app, people.coordinator), "member.to.be@a.example")
    assert response.status_code == 422
    assert "invited to join an organisation" in response.get_data(as_text=True)


def test_a_withdrawn_invitation_link_is_dead(app, people, outbox):
    client = as_user(app, people.coordinator)
    invite(client, "withdrawn@campaign.example")
    path = link_in(outbox[0], "/account/invitation/")
    with app.app_context():
        invitation_id = _db.session.scalar(select(Invitation.id).where(
            Invitation.role == Role.COORDINATOR))
    token = csrf_token(client, PAGE)
    response = client.post(f"{PAGE}/invitations/{invitation_id}/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    assert app.test_client().get(path).status_code == 404
    assert "withdrawn@campaign.example" not in client.get(PAGE).get_data(as_text=True)
    # Twice, or a member's invitation: nothing to withdraw here.
    assert client.post(f"{PAGE}/invitations/{invitation_id}/revoke",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"{PAGE}/invitations/{people.invitation_b}/revoke",
                       data={"csrf_token": token}).status_code == 404
    (event_,) = audit_events(app, "coordinator.invitation_revoked")
    assert event_.target_id == invitation_id and event_.actor_id == people.coordinator
    assert_no_address_in_the_log(app)


# -- deactivation -----------------------------------------------------------------------


def test_the_last_active_coordinator_cannot_be_deactivated(app, people):
    client = as_user(app, people.coordinator)
    path = f"{PAGE}/{people.coordinator}/deactivate"
    assert "Deactivate your own account?" in client.get(path).get_data(as_text=True)
    before = coordinator_state(app, people.coordinator)
    response = confirm(client, people.coordinator, "deactivate")
    assert response.status_code == 409
    assert "This is the last active coordinator." in response.get_data(as_text=True)
    assert coordinator_state(app, people.coordinator) == before == (True, before[1])
    assert client.get("/admin/").status_code == 200  # still logged in
    assert audit_events(app, "coordinator.deactivate") == []
    with app.test_request_context(), pytest.raises(Conflict):
        coordinators.deactivate_coordinator(_db.session.get(User, people.coordinator),
                                            people.coordinator)


def test_an_inactive_coordinator_does_not_count_as_another(app, people, second_coordinator):
    client = as_user(app, people.coordinator)
    assert confirm(client, second_coordinator, "deactivate").status_code == 302
    assert confirm(client, people.coordinator, "deactivate").status_code == 409
    assert coordinator_state(app, people.coordinator)[0] is True


def test_a_deactivated_coordinator_is_logged_out_everywhere(app, people, second_coordinator, outbox, auth):
    theirs = as_user(app, second_coordinator)
    assert theirs.get("/admin/").status_code == 200
    assert invite(theirs, "their.friend@campaign.example").status_code == 302
    with app.test_request_context():
        api_token = services.create_api_token(SECOND_COORDINATOR_EMAIL, "script")
    assert app.test_client().get("/api/v1/lists", headers={
        "Authorization": f"Bearer {api_token}"}).status_code == 200

    client = as_user(app, people.coordinator)
    assert "Deactivate the account of second@campaign.example?" in client.get(
        f"{PAGE}/{second_coordinator}/deactivate").get_data(as_text=True)
    response = confirm(client, second_coordinator, "deactivate")
    assert response.status_code == 302 and response.headers["Location"] == PAGE
    assert theirs.get("/admin/").headers["Location"].startswith("/account/login")
    assert auth.login(SECOND_COORDINATOR_EMAIL, SECOND_COORDINATOR_PASSWORD, client=app.test_client()).status_code == 422
    assert app.test_client().get("/api/v1/lists", headers={
        "Authorization": f"Bearer {api_token}"}).status_code == 401
    assert app.test_client().get(link_in(outbox[0], "/account/invitation/")).status_code == 404  # their invitation died
    listing = client.get(PAGE).get_data(as_text=True)
    assert f"{PAGE}/{second_coordinator}/reactivate" in listing and "inactive" in listing
    (event_,) = audit_events(app, "coordinator.deactivate")
    assert (event_.actor_id, event_.target_id) == (people.coordinator, second_coordinator)
    assert event_.details == {"invitations_withdrawn": 1}
    # Twice: nothing more to do, said on the page.
    assert confirm(client, second_coordinator, "deactivate").status_code == 409

    response = confirm(client, second_coordinator, "reactivate")
    assert response.status_code == 302
    assert theirs.get("/admin/").status_code == 302  # old sessions stay dead
    assert auth.login(SECOND_COORDINATOR_EMAIL, SECOND_COORDINATOR_PASSWORD, client=app.test_client()).status_code == 302
    assert [e.target_id for e in audit_events(app, "coordinator.reactivate")] == [second_coordinator]
    assert confirm(client, second_coordinator, "reactivate").status_code == 409
    assert_no_address_in_the_log(app)


def test_a_coordinator_who_is_not_the_last_may_leave(app, people, second_coordinator):
    client = as_user(app, people.coordinator)
    response = confirm(client, people.coordinator, "deactivate")
    assert response.status_code == 302 and response.headers["Location"] == "/account/login"
    assert client.get("/admin/").headers["Location"].startswith("/account/login")
    assert coordinator_state(app, people.coordinator)[0] is False
    assert coordinator_state(app, second_coordinator)[0] is True


def test_only_coordinators_are_managed_here(app, people, second_coordinator):
    with app.test_request_context():
        actor = _db.session.get(User, second_coordinator)
        with pytest.raises(NotFound):
            coordinators.deactivate_coordinator(actor, people.member_a)
        with pytest.raises(NotFound):
            coordinators.reactivate_coordinator(actor, 2147483647)
    client = as_user(app, people.coordinator)
    assert client.get(f"{PAGE}/{people.member_a}/deactivate").status_code == 404
    assert "alice@a.example" not in client.get(PAGE).get_data(as_text=True)


def test_members_and_strangers_are_kept_out(app, people, second_coordinator, auth):
    member = as_user(app, people.member_a)
    assert member.get(PAGE).status_code == 403
    token = csrf_token(member, "/my/organisation/colleagues")
    assert member.post(PAGE, data={"csrf_token": token, "email": "x@a.example",
                                   "locale": "en"}).status_code == 403
    assert member.post(f"{PAGE}/{second_coordinator}/deactivate",
                       data={"csrf_token": token}).status_code == 403
    assert coordinator_state(app, second_coordinator)[0] is True
    stranger = app.test_client()
    assert stranger.get(PAGE).headers["Location"].startswith("/account/login")
    with app.app_context():
        assert _db.session.scalar(select(func.count()).where(
            Invitation.role == Role.COORDINATOR)) == 0
    assert auth.login("alice@a.example", MEMBER_PASSWORD, client=app.test_client()).status_code == 302


def test_the_admin_navigation_leads_here(app, people):
    html = as_user(app, people.coordinator).get("/admin/").get_data(as_text=True)
    assert f'href="{PAGE}"' in html


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_pages_fit_a_phone_and_work_without_javascript(app, browser, live_server, people,
                                                            second_coordinator, outbox):
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server}{PAGE}")
        page.fill("#email", "coord@campaign.example")
        page.fill("#password", COORDINATOR_PASSWORD)
        page.click("#content form button[type=submit]")
        assert page.url.endswith(PAGE)
        page.fill("#email", "a.rather.long.address.of.a.new.coordinator@campaign.example")
        page.select_option("#locale", "uk")
        page.click("#content form[novalidate] button[type=submit]")
        assert "The invitation is on its way." in page.inner_text("#content")
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.click(f"a[href='{PAGE}/{second_coordinator}/deactivate']")
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.click("#content form button[type=submit]")
        assert "The coordinator is deactivated." in page.inner_text("#content")
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
    assert [m.recipients for m in outbox] == [
        ["a.rather.long.address.of.a.new.coordinator@campaign.example"]]
    assert coordinator_state(app, second_coordinator)[0] is False


@pytest.mark.postgres
def test_two_coordinators_deactivating_each_other_at_once_leave_one_active(pg_app):
    """Each sees the other active before either writes; one must win, the other be refused."""
    with pg_app.test_request_context():
        first, _created = services.create_coordinator("first@campaign.example", COORDINATOR_PASSWORD)
        other, _created = services.create_coordinator(SECOND_COORDINATOR_EMAIL, SECOND_COORDINATOR_PASSWORD)
        pair = [(first.id, other.id), (other.id, first.id)]

    # Both deactivations pause just before their UPDATE, so without the row locks
    # both would check "another coordinator is active" while the other still is.
    def pause(conn, cursor, statement, *args):
        if statement.startswith("UPDATE users SET active"):
            time.sleep(0.3)

    def deactivate(actor_id: int, target_id: int, barrier: threading.Barrier,
                   outcomes: list[str]) -> None:
        with pg_app.test_request_context():
            try:
                actor = _db.session.get(User, actor_id)
                barrier.wait()
                coordinators.deactivate_coordinator(actor, target_id)
                outcomes.append("done")
            except Conflict:
                outcomes.append("refused")
            except BaseException as error:  # noqa: BLE001 (reported below)
                outcomes.append(repr(error))
            finally:
                _db.session.remove()

    for _round in range(3):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        with pg_app.app_context():
            engine = _db.engine
        event.listen(engine, "before_cursor_execute", pause)
        try:
            threads = [threading.Thread(target=deactivate, args=(*ids, barrier, outcomes))
                       for ids in pair]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            event.remove(engine, "before_cursor_execute", pause)
        assert sorted(outcomes) == ["done", "refused"]
        with pg_app.test_request_context():
            active = list(_db.session.scalars(select(User.id).where(
                User.role == Role.COORDINATOR, User.active.is_(True))))
            assert len(active) == 1
            inactive = next(user_id for pair_ids in pair for user_id in pair_ids
                            if user_id not in active)
            coordinators.reactivate_coordinator(_db.session.get(User, active[0]), inactive)
