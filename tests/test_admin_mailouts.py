"""Coordinators' mail-out pages: compose, preview, test, send, pause, resume, cancel, schedule."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from objectwar.extensions import db as _db
from objectwar.mailing.models import Delivery, DeliveryStatus, Mailout, MailoutStatus
from objectwar.mailouts import sweep
from objectwar.types import utcnow
from tests.factories import COORDINATOR_EMAIL, new_mailout
from tests.helpers import audited, count, csrf_token, login_as, post, status_of


@pytest.fixture
def app_overrides(relay):
    return {**relay.config(), "MAILOUT_BATCH_SIZE": 5, "MAILOUT_RATE_PER_MINUTE": 1_000_000}


def test_pages_are_for_coordinators_only(app, client, people, audience):
    mailout_id = new_mailout(app)
    for path in ("/admin/mailouts", "/admin/mailouts/new", f"/admin/mailouts/{mailout_id}",
                 f"/admin/mailouts/{mailout_id}/send", f"/admin/mailouts/{mailout_id}/cancel"):
        stranger = app.test_client().get(path)
        assert stranger.status_code == 302 and "/account/login" in stranger.headers["Location"]
        assert login_as(app.test_client(), app, people.member_a).get(path).status_code == 403
        assert login_as(app.test_client(), app, people.coordinator).get(path).status_code == 200
    member = login_as(app.test_client(), app, people.member_a)
    token = csrf_token(member, "/organisations/apply")
    assert member.post(f"/admin/mailouts/{mailout_id}/send", data={"csrf_token": token}).status_code == 403
    assert status_of(app, mailout_id) == MailoutStatus.DRAFT


def test_compose_errors_are_shown_at_the_fields_and_nothing_is_stored(app, auth, people, audience):
    coordinator = auth.coordinator()
    answer = post(coordinator, "/admin/mailouts/new", {
        "list": "", "subject": "", "body_markdown": "Body", "locale": "en",
        "subject_de": "Nur ein Betreff", "body_de": "", "rate_per_minute": "0",
    })
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    for field_id in ("list", "subject", "body_de", "rate_per_minute"):
        assert re.search(rf'id="{field_id}-error"', html), field_id
    assert 'value="Nur ein Betreff"' in html  # what was typed stays
    assert count(app, Mailout) == 0 and not audited(app, "mailout.create")
    bad_country = post(coordinator, "/admin/mailouts/new", {
        "list": "updates", "subject": "S", "body_markdown": "B", "countries": ["XX"], "rate_per_minute": "5",
    })
    assert bad_country.status_code == 422 and 'id="countries-error"' in bad_country.get_data(as_text=True)
    assert count(app, Mailout) == 0


def test_compose_creates_a_draft_and_its_page_shows_count_and_previews(app, auth, people, audience):
    coordinator = auth.coordinator()
    form = coordinator.get("/admin/mailouts/new").get_data(as_text=True)
    assert 'value="1000000"' in form and "<script" not in form and "style=" not in form
    answer = post(coordinator, "/admin/mailouts/new", {
        "list": "updates", "locale": "en", "subject": "News of the campaign",
        "body_markdown": "Hello {{ name }},\n\n**Thank you.**",
        "subject_de": "Neuigkeiten", "body_de": "Hallo {{ name }}, *danke*.",
        "countries": ["DE", "FR"], "locales": ["en", "de"], "rate_per_minute": "120",
    })
    assert answer.status_code == 302
    with app.app_context():
        mailout = _db.session.scalar(select(Mailout))
        assert (mailout.status, mailout.rate_per_minute, mailout.created_by_id) == (
            MailoutStatus.DRAFT, 120, people.coordinator)
        assert sorted(text.locale for text in mailout.texts) == ["de", "en"]
        mailout_id = mailout.id
    assert answer.headers["Location"].endswith(f"/admin/mailouts/{mailout_id}")
    page = coordinator.get(answer.headers["Location"]).get_data(as_text=True)
    assert "5 people would get it now." in page
    assert "<strong>Thank you.</strong>" in page and "Alex Example" in page
    assert 'http-equiv="refresh"' not in page and "style=" not in page and "<script" not in page
    german = coordinator.get(f"/admin/mailouts/{mailout_id}?locale=de").get_data(as_text=True)
    assert "Neuigkeiten" in german and "<em>danke</em>" in german
    assert [event.actor_id for event in audited(app, "mailout.create")] == [people.coordinator]
    assert "News of the campaign" in coordinator.get("/admin/mailouts").get_data(as_text=True)


def test_template_injection_is_shown_literally(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app, subject="<b>{{ config }}</b>",
                             body_markdown="{{ config }} {% for x in range(3) %}X{% endfor %}\n\n"
                                           "<script>alert(1)</script><img src=x onerror=alert(1)>")
    page = coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)
    assert "{{ config }}" in page and "{% for x in range(3) %}X{% endfor %}" in page
    assert "test-secret-key" not in page and "SECRET_KEY" not in page
    assert "&lt;b&gt;{{ config }}&lt;/b&gt;" in page
    assert "<script>alert" not in page and "<img src=x onerror" not in page  # cleaned (HTML), escaped (text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_send_asks_first_then_delivers_to_everyone(app, auth, people, audience, relay):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app, audience={"country": ["DE"]})
    confirm = coordinator.get(f"/admin/mailouts/{mailout_id}/send")
    assert confirm.status_code == 200 and "Send to 3 people?" in confirm.get_data(as_text=True)
    assert count(app, Delivery) == 0 and status_of(app, mailout_id) == MailoutStatus.DRAFT
    sent = post(coordinator, f"/admin/mailouts/{mailout_id}/send", form_page=f"/admin/mailouts/{mailout_id}/send")
    assert sent.status_code == 302
    # Tests run tasks inline: the mail-out is delivered within the request.
    assert count(app, Delivery, Delivery.status == DeliveryStatus.SENT) == 3
    assert status_of(app, mailout_id) == MailoutStatus.SENT
    assert sorted(relay.recipients()) == ["person00000@example.org", "person00001@example.org",
                                          "person00002@example.org"]
    page = coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)
    assert "<progress" in page and 'value="3"' in page
    assert [event.actor_id for event in audited(app, "mailout.send")] == [people.coordinator]
    again = coordinator.get(f"/admin/mailouts/{mailout_id}/send")
    assert again.status_code == 409


def test_pause_resume_and_cancel(app, auth, people, audience, relay):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    with app.app_context():
        sweep.start_sending(mailout_id)  # started, nothing queued yet: all pending
    page = coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "mailout-progress.js" in page and "Pause" in page
    detail = f"/admin/mailouts/{mailout_id}"
    assert post(coordinator, f"{detail}/pause", form_page=detail).status_code == 302
    assert status_of(app, mailout_id) == MailoutStatus.PAUSED
    assert post(coordinator, f"{detail}/pause", form_page=detail).status_code == 409
    assert post(coordinator, f"{detail}/resume", form_page=detail).status_code == 302
    assert status_of(app, mailout_id) == MailoutStatus.SENT
    assert relay.count() == 5 and count(app, Delivery, Delivery.status == DeliveryStatus.SENT) == 5
    assert len(audited(app, "mailout.pause")) == 1 and len(audited(app, "mailout.resume")) == 1

    other = new_mailout(app)
    confirm = coordinator.get(f"/admin/mailouts/{other}/cancel")
    assert confirm.status_code == 200 and "Cancel this mail-out for good?" in confirm.get_data(as_text=True)
    assert status_of(app, other) == MailoutStatus.DRAFT
    assert post(coordinator, f"/admin/mailouts/{other}/cancel", form_page=detail).status_code == 302
    assert status_of(app, other) == MailoutStatus.CANCELLED
    assert post(coordinator, f"/admin/mailouts/{other}/resume", form_page=detail).status_code == 409
    assert coordinator.get(f"/admin/mailouts/{other}/send").status_code == 409
    assert [event.actor_id for event in audited(app, "mailout.cancel")] == [people.coordinator]
    assert relay.count() == 5


def test_send_a_test_goes_to_the_coordinator_only(app, auth, people, audience, outbox, relay):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    detail = f"/admin/mailouts/{mailout_id}"
    answer = post(coordinator, f"{detail}/test", {"locale": "de"}, form_page=detail)
    assert answer.status_code == 302
    assert [message.recipients for message in outbox] == [[COORDINATOR_EMAIL]]
    assert outbox[0].subject == "[Test] Neuigkeiten" and "Hallo" in outbox[0].body and outbox[0].html
    assert [m["To"].addresses[0].addr_spec for m in relay.messages] == [COORDINATOR_EMAIL]
    assert count(app, Delivery) == 0 and status_of(app, mailout_id) == MailoutStatus.DRAFT
    assert [event.actor_id for event in audited(app, "mailout.test")] == [people.coordinator]
    refused = post(coordinator, f"{detail}/test", {"locale": "ru"}, form_page=detail)
    assert refused.status_code == 422 and 'id="locale-error"' in refused.get_data(as_text=True)
    assert len(outbox) == 1


def test_schedule_in_the_past_is_a_field_error(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    detail = f"/admin/mailouts/{mailout_id}"
    past = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    answer = post(coordinator, f"{detail}/schedule", {"scheduled_at": past}, form_page=detail)
    assert answer.status_code == 422
    assert 'id="scheduled_at-error"' in answer.get_data(as_text=True)
    empty = post(coordinator, f"{detail}/schedule", {"scheduled_at": ""}, form_page=detail)
    assert empty.status_code == 422 and 'id="scheduled_at-error"' in empty.get_data(as_text=True)
    assert status_of(app, mailout_id) == MailoutStatus.DRAFT and not audited(app, "mailout.schedule")
    future = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    answer = post(coordinator, f"{detail}/schedule", {"scheduled_at": future.strftime("%Y-%m-%dT%H:%M")},
                  form_page=detail)
    assert answer.status_code == 302 and status_of(app, mailout_id) == MailoutStatus.SCHEDULED
    with app.app_context():
        assert _db.session.get(Mailout, mailout_id).scheduled_at == future
    assert "scheduled" in coordinator.get(detail).get_data(as_text=True)
    assert len(audited(app, "mailout.schedule")) == 1
