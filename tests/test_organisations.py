"""Organisations: applying, coordinators' decisions, the directory and its API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from objectwar.accounts.models import Invitation
from objectwar.accounts.services import find_user_by_email
from objectwar.audit.models import AuditEvent
from objectwar.errors import ValidationError
from objectwar.extensions import db as _db
from objectwar.mail import notices as delivery
from objectwar.mail.models import Notice
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.validation import BIDI_CONTROLS, validate_url
from tests.factories import add_coordinator
from tests.helpers import csrf_token, login_as

APPLICATION = {
    "name": "Friedensnetz Köln", "country": "DE", "city": "Köln",
    "website": "https://friedensnetz.example", "contact_name": "Mia Muster",
    "contact_email": "mia@friedensnetz.example", "description": "We help *objectors*.",
    "reason": "We support deserters.", "consent": "y",
}


def apply(client, **changes):
    token = csrf_token(client, "/organisations/apply")
    data = {**APPLICATION, **changes, "csrf_token": token}
    data = {key: value for key, value in data.items() if value is not None}
    return client.post("/organisations/apply", data=data)


@pytest.fixture
def coordinator_id(app) -> int:
    """A coordinator exists (and is told of applications); nobody is logged in."""
    with app.test_request_context():
        return add_coordinator().id


def test_apply_creates_an_application_and_emails_applicant_and_coordinators(
        client, app, coordinator_id, outbox):
    response = apply(client, lang=None)
    # Answered by a redirect: reloading the page it leads to sends nothing again.
    assert response.status_code == 303
    assert response.headers["Location"] == "/organisations/apply/sent"
    assert "Thank you for your application" in client.get(
        response.headers["Location"]).get_data(as_text=True)
    assert sorted(m.recipients[0] for m in outbox) == ["coord@campaign.example",
                                                       "mia@friedensnetz.example"]
    with app.app_context():
        organisation = _db.session.scalar(select(Organisation))
        assert organisation.status == OrganisationStatus.APPLIED
        assert organisation.slug == "friedensnetz-koln"
        assert organisation.application_note == "We support deserters."
        assert all(n.sent_at for n in _db.session.scalars(select(Notice)))
    notice = next(m for m in outbox if m.recipients == ["coord@campaign.example"])
    assert f"https://objectwar.test/admin/organisations/{organisation.id}" in notice.body
    # Not public while it applies.
    assert client.get(f"/organisations/{organisation.slug}").status_code == 404
    assert "Friedensnetz" not in client.get("/organisations").get_data(as_text=True)
    assert client.get("/api/v1/organisations").get_json() == {"organisations": []}


@pytest.mark.parametrize("field,value,message", [
    ("name", "", "This field is required."),
    ("country", "XX", "Choose a country from the list."),
    ("website", "javascript:alert(1)", "Enter a web address starting with https:// or http://."),
    ("website", "ftp://x.example", "Enter a web address starting with https:// or http://."),
    ("contact_email", "not-an-address", "This does not look like an email address."),
    ("reason", "", "This field is required."),
    ("consent", None, "Please agree to the processing of these details."),
    ("name", "x" * 201, "Use at most 200 characters."),
])
def test_apply_refuses_bad_input_at_the_field_and_stores_nothing(client, app, field, value, message):
    response = apply(client, **{field: value})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert re.search(r'class="field[^"]*has-error', page)
    with app.app_context():
        assert _db.session.scalar(select(Organisation)) is None
        assert _db.session.scalar(select(Notice)) is None


def test_apply_with_garbage_never_500(client):
    token = csrf_token(client, "/organisations/apply")
    response = client.post("/organisations/apply", data={"csrf_token": token, "name": "\x00\u202e",
                                                         "country": ["DE", "FR"], "website": "http://[::1"})
    assert response.status_code == 422


def decide(client, organisation_id, decision, **data):
    token = csrf_token(client, f"/admin/organisations/{organisation_id}")
    return client.post(f"/admin/organisations/{organisation_id}/{decision}",
                       data={"csrf_token": token, **data})


def applied_id(app):
    with app.app_context():
        return _db.session.scalar(select(Organisation.id))


def test_approve_makes_a_member_and_invites_the_contact(client, app, coordinator_id, outbox):
    apply(app.test_client())
    organisation_id = applied_id(app)
    login_as(client, app, coordinator_id)
    page = client.get("/admin/organisations").get_data(as_text=True)
    assert "Friedensnetz Köln" in page
    detail = client.get(f"/admin/organisations/{organisation_id}").get_data(as_text=True)
    assert "mia@friedensnetz.example" in detail and "We support deserters." in detail
    outbox.clear()
    response = decide(client, organisation_id, "approve")
    assert response.status_code == 302
    (invitation,) = outbox
    assert invitation.recipients == ["mia@friedensnetz.example"]
    assert "https://objectwar.test/account/invitation/" in invitation.body
    with app.app_context():
        organisation = _db.session.get(Organisation, organisation_id)
        assert organisation.status == OrganisationStatus.MEMBER
        assert _db.session.scalar(select(Invitation)).organisation_id == organisation_id
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation.approve"))
        assert event.actor_id == coordinator_id
        assert event.details["changes"] == {"status": ["applied", "member"]}
    assert "Friedensnetz Köln" in app.test_client().get("/organisations").get_data(as_text=True)
    # Approving twice is a conflict, not a second invitation.
    assert decide(client, organisation_id, "approve").status_code == 409
    assert len(outbox) == 1


def test_reject_needs_a_message_and_emails_it(client, app, coordinator_id, outbox):
    apply(app.test_client())
    organisation_id = applied_id(app)
    login_as(client, app, coordinator_id)
    outbox.clear()
    response = decide(client, organisation_id, "reject", message="  ")
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)
    assert outbox == []
    response = decide(client, organisation_id, "reject", message="Your aims differ from ours.")
    assert response.status_code == 302
    (message,) = outbox
    assert message.recipients == ["mia@friedensnetz.example"]
    assert "Your aims differ from ours." in message.body
    with app.app_context():
        assert _db.session.get(Organisation, organisation_id).status == OrganisationStatus.REJECTED
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation.reject"))
        assert event.details["message"] == "Your aims differ from ours."
    assert app.test_client().get("/organisations/friedensnetz-koln").status_code == 404


def test_suspend_has_a_confirmation_step_and_hides_everywhere(client, app, people, auth):
    auth.coordinator()
    page = client.get(f"/admin/organisations/{people.org_a}/suspend")
    assert page.status_code == 200 and "Suspend this organisation?" in page.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Organisation, people.org_a).status == OrganisationStatus.MEMBER
    assert decide(client, people.org_a, "suspend").status_code == 302
    visitor = app.test_client()
    assert visitor.get("/organisations/org-a").status_code == 404
    assert "Organisation A" not in visitor.get("/organisations").get_data(as_text=True)
    assert "Organisation A" not in visitor.get("/").get_data(as_text=True)
    slugs = [o["slug"] for o in visitor.get("/api/v1/organisations").get_json()["organisations"]]
    assert slugs == ["org-b"]
    # Its members can no longer act for it.
    member = login_as(app.test_client(), app, people.member_a)
    assert member.get("/my/organisation").status_code == 403
    # Reinstate.
    assert decide(client, people.org_a, "reinstate").status_code == 302
    assert visitor.get("/organisations/org-a").status_code == 200
    with app.app_context():
        actions = list(_db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert actions[-2:] == ["organisation.suspend", "organisation.reinstate"]


def test_members_cannot_decide(client, app, people, auth):
    auth.member(people.org_a)
    token = csrf_token(client, "/my/organisation")
    response = client.post(f"/admin/organisations/{people.org_b}/suspend", data={"csrf_token": token})
    assert response.status_code == 403
    with app.app_context():
        assert _db.session.get(Organisation, people.org_b).status == OrganisationStatus.MEMBER


def test_directory_filters_and_search(client, app, people):
    page = client.get("/organisations").get_data(as_text=True)
    assert "Organisation A" in page and "Organisation B" in page
    page = client.get("/organisations?country=fr").get_data(as_text=True)
    assert "Organisation A" not in page and "Organisation B" in page
    page = client.get("/organisations?q=tion%20a").get_data(as_text=True)
    assert "Organisation A" in page and "Organisation B" not in page
    page = client.get("/organisations?q=%25").get_data(as_text=True)  # a literal %, no wildcard
    assert "Organisation A" not in page
    page = client.get("/organisations?lang=de").get_data(as_text=True)
    assert "Deutschland" in page and '<html lang="de"' in page
    assert client.get("/organisations?country=%00%ff&q=%00" + "x" * 5000).status_code == 200
    assert client.get("/organisations/org%00-a").status_code == 404
    refused = client.get("/api/v1/organisations?country=%00")  # not two letters: as documented
    assert refused.status_code == 422 and list(refused.get_json()["errors"]) == ["country"]
    assert client.get("/api/v1/organisations?country=XX").get_json() == {"organisations": []}
    profile = client.get("/organisations/org-a").get_data(as_text=True)
    assert "About Organisation A." in profile and "contact@org-a.example" not in profile


def test_api_organisations_members_only_no_contact_data(client, app, people):
    with app.app_context():
        _db.session.add(Organisation(slug="applicant", name="Applicant", country="DE",
                                     contact_email="secret@applicant.example"))
        _db.session.commit()
    response = client.get("/api/v1/organisations")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    organisations = response.get_json()["organisations"]
    assert [o["slug"] for o in organisations] == ["org-a", "org-b"]
    assert set(organisations[0]) == {"slug", "name", "country", "city", "website",
                                     "description_html", "logo_url"}
    assert organisations[0]["description_html"] == "<p>About Organisation A.</p>"
    assert "contact@" not in response.get_data(as_text=True)
    assert [o["slug"] for o in client.get("/api/v1/organisations?country=fr").get_json()[
        "organisations"]] == ["org-b"]


def test_periodic_task_sends_what_the_queue_lost(app, coordinator_id, outbox):
    from datetime import timedelta

    from objectwar.mail import notices as mail_notices
    from objectwar.mail.models import NoticeKind

    with app.test_request_context():
        organisation = Organisation(slug="late", name="Late", country="DE", contact_name="L",
                                    contact_email="late@late.example")
        _db.session.add(organisation)
        _db.session.flush()
        notice = mail_notices.queue(NoticeKind.APPLICATION_RECEIVED, organisation.id,
                                       "late@late.example", "de")
        _db.session.commit()
        assert delivery.deliver_due(older_than_seconds=60) == 0  # too fresh: its task may still run
        notice.due_at = notice.due_at - timedelta(minutes=2)
        _db.session.commit()
        assert delivery.deliver_due(older_than_seconds=60) == 1
        assert delivery.deliver_due(older_than_seconds=60) == 0  # never twice
    (message,) = outbox
    assert message.recipients == ["late@late.example"]
    assert "Late" in message.body and message.subject == "Wir haben Ihren Antrag erhalten"  # German


def test_failed_smtp_leaves_the_notice_due(app, people, smtp_server):
    from objectwar.extensions import mail
    from objectwar.mail import notices as mail_notices
    from objectwar.mail.models import NoticeKind

    app.config.update(smtp_server.config())
    app.config["MAIL_PORT"] = 1  # nothing listens there
    with app.test_request_context():
        mail.init_app(app)
        user = find_user_by_email("alice@a.example")
        notice = mail_notices.queue(NoticeKind.PASSWORD_RESET, user.id, user.email, "en")
        _db.session.commit()
        assert delivery.deliver(notice.id) is False
        _db.session.refresh(notice)
        assert notice.due_at is not None and notice.sent_at is None and notice.last_error
        app.config.update(smtp_server.config())
        mail.init_app(app)
        assert delivery.deliver(notice.id) is True
    (received,) = smtp_server.messages
    assert received["To"] == "alice@a.example"


def test_coordinator_edits_any_profile_audited(client, app, people, auth):
    auth.coordinator()
    path = f"/admin/organisations/{people.org_b}/profile"
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, "name": "Organisation B", "country": "FR",
                                       "city": "Lyon", "website": "", "description": "Lyon office."})
    assert response.status_code == 302
    with app.app_context():
        organisation = _db.session.get(Organisation, people.org_b)
        assert organisation.city == "Lyon" and organisation.website is None
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation.update"))
        assert event.actor_id == people.coordinator
        assert event.details["changes"]["website"] == ["https://org-b.example", None]


def test_invitation_of_a_suspended_organisation_is_dead(client, app, people, auth):
    from objectwar.accounts.services import invitation_token

    with app.app_context():
        token = invitation_token(_db.session.get(Invitation, people.invitation_b))
    assert client.get(f"/account/invitation/{token}").status_code == 200
    auth.coordinator()
    assert decide(client, people.org_b, "suspend").status_code == 302
    assert app.test_client().get(f"/account/invitation/{token}").status_code == 404


def test_periodic_task_is_registered_and_runs(app, people, outbox):
    from datetime import timedelta

    from objectwar.mail import notices as mail_notices
    from objectwar.mail.models import NoticeKind
    from objectwar.tasks import huey, send_due_notices

    assert "send_due_notices" in {task.name for task in huey._registry.periodic_tasks}
    with app.test_request_context():
        user = find_user_by_email("alice@a.example")
        notice = mail_notices.queue(NoticeKind.PASSWORD_RESET, user.id, user.email, "en")
        notice.due_at -= timedelta(minutes=5)
        _db.session.commit()
    assert send_due_notices.call_local() == 1
    assert [m.recipients for m in outbox] == [["alice@a.example"]]


@pytest.fixture
def app_overrides():
    return {"APPLY_RATE_LIMIT": "2 per hour"}


def test_applications_are_rate_limited_per_client(client, app):
    assert apply(client).status_code == 303
    assert apply(client, name="Second").status_code == 303
    response = apply(client, name="Third")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    with app.app_context():
        assert len(list(_db.session.scalars(select(Organisation)))) == 2


def test_the_rate_limit_counts_accepted_applications_not_typos(client, app):
    """Six forms sent back with errors in a row, then the corrected one gets in."""
    for _ in range(6):
        response = apply(client, contact_email="mia@friedensnetz")
        assert response.status_code == 422
        assert "contact_email-error" in response.get_data(as_text=True)
    assert apply(client).status_code == 303
    assert apply(client, name="Second").status_code == 303
    assert apply(client, name="Third").status_code == 429


def test_applications_racing_for_one_name_all_get_in(pg_app):
    """Eight applications with one name at once: eight rows, eight slugs, no error."""
    import threading

    from sqlalchemy import select

    from objectwar.organisations import services as organisation_services

    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def apply_once(number: int) -> None:
        with pg_app.test_request_context():
            barrier.wait()
            try:
                organisation_services.apply({
                    "name": "Refusers Aid", "country": "DE", "contact_name": "A",
                    "contact_email": f"a{number}@aid.example", "reason": "We help refusers.",
                    "consent": True,
                }, "en")
            except BaseException as error:  # noqa: BLE001 (reported below)
                failures.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=apply_once, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with pg_app.app_context():
        slugs = sorted(_db.session.scalars(
            select(Organisation.slug).where(Organisation.name == "Refusers Aid")))
    assert len(slugs) == 8 and len(set(slugs)) == 8
    assert "refusers-aid" in slugs


# -- bidirectional controls in web addresses -----------------------------------------


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
    response = apply(client, website="https://friedensnetz.example/\u202eexe.pdf")
    assert response.status_code == 422
    assert "Remove the control characters from this field." in response.get_data(as_text=True)
    with app.app_context():
        assert _db.session.scalar(select(Organisation)) is None
