"""A mail-out's emails to coordinators (its test, its pause) are outbox rows first, then queued by id.

With a real queue (not inline) and a real SMTP server: the row exists before
the queue runs, and a lost queue message is still sent by the periodic task.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from objectwar import security, tasks
from objectwar.accounts.models import Role, User
from objectwar.extensions import db as _db
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing.models import Mailout, MailoutStatus
from objectwar.mailouts import editing, send, status, sweep
from objectwar.types import utcnow
from tests.factories import make_list
from tests.helpers import csrf_token

COORDINATOR = "coord@campaign.example"


@pytest.fixture
def app_overrides(relay, tmp_path):
    return {**relay.config(), "TASKS_IMMEDIATE": False, "QUEUE_FILE": str(tmp_path / "queue.db"),
            "MAIL_RETRY_SECONDS": 60, "MAILOUT_BATCH_SIZE": 5, "MAILOUT_RATE_PER_MINUTE": 1_000_000}


def notices(app) -> list[Notice]:
    with app.app_context():
        return list(_db.session.scalars(select(Notice).order_by(Notice.id)))


def lose_the_queue() -> None:
    """What a killed worker or a wiped Redis does: the queued messages are gone."""
    tasks.huey.flush()
    assert tasks.huey.pending() == []


def let_time_pass(app) -> None:
    """The sweep sends what has been due for a minute (before that, the queue's message may still come)."""
    with app.app_context():
        _db.session.execute(update(Notice).where(Notice.due_at.is_not(None))
                            .values(due_at=utcnow() - timedelta(minutes=2)))
        _db.session.commit()


def failing_mailout(app, relay, **coordinator: str) -> int:
    """A sending mail-out by the coordinator, to more recipients than the error limit,
    through a relay that answers 451 to all but the coordinator."""
    with app.app_context():
        user = User(email_digest=security.email_digest(COORDINATOR), email=COORDINATOR,
                    role=Role.COORDINATOR, **coordinator)
        _db.session.add(user)
        make_list(send.ERROR_LIMIT + 5)
        mailout_id = editing.create_mailout({"list": "updates", "subject": "S", "body_markdown": "B"},
                                             created_by=user).id
        sweep.start_sending(mailout_id)
    relay.answer_all = "451 4.3.0 busy"
    relay.accept.add(COORDINATOR)
    return mailout_id


def test_send_a_test_is_a_row_first_and_a_lost_queue_message_is_sent_by_the_sweep(
        app, client, people, relay, auth):
    with app.app_context():
        make_list(2)
        mailout_id = editing.create_mailout({
            "list": "updates", "subject": "News", "body_markdown": "Hello {{ name }}",
            "translations": {"de": {"subject": "Neuigkeiten", "body_markdown": "Hallo {{ name }}"}}}).id
    coordinator = auth.coordinator()
    detail = f"/admin/mailouts/{mailout_id}"
    answer = coordinator.post(f"{detail}/test", data={"csrf_token": csrf_token(coordinator, detail),
                                                      "locale": "de"})
    assert answer.status_code == 302
    (notice,) = notices(app)
    assert (notice.kind, notice.target_id, notice.recipient, notice.locale) == (
        NoticeKind.MAILOUT_TEST, mailout_id, COORDINATOR, "de")
    assert notice.due_at is not None and notice.sent_at is None
    assert [task.args for task in tasks.huey.pending()] == [(notice.id,)]
    assert relay.count() == 0  # nothing is sent in the request

    lose_the_queue()
    tasks.send_due_notices.call_local()
    assert relay.count() == 0  # due for less than a minute: the queue may still deliver it
    relay.answers[COORDINATOR] = "451 4.7.1 greylisted"
    let_time_pass(app)
    tasks.send_due_notices.call_local()
    (retried,) = notices(app)
    assert retried.attempts == 1 and retried.sent_at is None
    assert utcnow() + timedelta(seconds=55) <= retried.due_at <= utcnow() + timedelta(seconds=61)

    relay.answers.clear()
    let_time_pass(app)
    tasks.send_due_notices.call_local()
    assert relay.recipients() == {COORDINATOR: 1}
    (message,) = relay.messages
    assert message["Subject"] == "[Test] Neuigkeiten" and "Hallo" in message.get_body(("plain",)).get_content()
    assert notices(app)[0].sent_at is not None
    with app.app_context():
        assert _db.session.get(Mailout, mailout_id).status == MailoutStatus.DRAFT
    tasks.send_due_notices.call_local()
    assert relay.count() == 1  # sent once


def test_the_pause_notice_is_a_row_first_and_a_lost_queue_message_is_sent_by_the_sweep(app, relay):
    mailout_id = failing_mailout(app, relay, locale="de")

    tasks.deliver_batch.call_local(mailout_id)  # what a worker runs

    with app.app_context():
        assert _db.session.get(Mailout, mailout_id).status == MailoutStatus.PAUSED
    (notice,) = notices(app)
    assert (notice.kind, notice.target_id, notice.recipient, notice.locale) == (
        NoticeKind.MAILOUT_PAUSED, mailout_id, COORDINATOR, "de")
    assert [task.args for task in tasks.huey.pending()] == [(notice.id,)]
    assert relay.count() == 0

    lose_the_queue()
    let_time_pass(app)
    tasks.send_due_notices.call_local()
    assert relay.recipients() == {COORDINATOR: 1}
    # In the coordinator's locale, with a link to the mail-out's page.
    assert relay.messages[0]["Subject"] == f"Versand {mailout_id} nach 20 Fehlern in Folge angehalten"
    assert f"/admin/mailouts/{mailout_id}" in relay.messages[0].get_body(("plain",)).get_content()


def test_the_queued_message_sends_the_pause_notice(app, relay):
    mailout_id = failing_mailout(app, relay)
    tasks.deliver_batch.call_local(mailout_id)
    for task in tasks.huey.pending():
        tasks.huey.execute(task)
    assert relay.recipients() == {COORDINATOR: 1}
    assert notices(app)[0].sent_at is not None


def test_a_pause_notice_of_a_mailout_resumed_since_is_not_sent(app, relay):
    mailout_id = failing_mailout(app, relay)
    tasks.deliver_batch.call_local(mailout_id)
    lose_the_queue()
    with app.app_context():
        status.cancel(mailout_id)
    let_time_pass(app)
    tasks.send_due_notices.call_local()
    assert relay.count() == 0
    (notice,) = notices(app)
    assert notice.due_at is None and notice.last_error == "skipped: nothing to send any more"
