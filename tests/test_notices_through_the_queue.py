"""Notices with a real queue (not inline): rows first, then the worker sends and marks them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from objectwar.extensions import db as _db
from objectwar.mail.models import Notice
from tests.helpers import csrf_token


@pytest.fixture
def app_overrides(tmp_path):
    return {"TASKS_IMMEDIATE": False, "QUEUE_FILE": str(tmp_path / "queue.db")}


def test_request_only_writes_rows_and_queues_ids(client, app, outbox):
    from objectwar.tasks import huey

    token = csrf_token(client, "/organisations/apply")
    response = client.post("/organisations/apply", data={
        "csrf_token": token, "name": "Queue Test", "country": "PL", "contact_name": "Q",
        "contact_email": "q@queue.example", "reason": "Testing.", "consent": "y"})
    assert response.status_code == 303  # accepted (the answer page is a redirect away)
    assert outbox == []  # nothing is sent inside the request
    with app.app_context():
        (notice,) = _db.session.scalars(select(Notice))
        assert notice.due_at is not None and notice.sent_at is None
    pending = huey.pending()
    assert [task.args for task in pending] == [(notice.id,)]
    # The worker runs the task: the mail goes out and the row says so.
    for task in pending:
        huey.execute(task)
    assert [m.recipients for m in outbox] == [["q@queue.example"]]
    with app.app_context():
        notice = _db.session.scalar(select(Notice))
        assert notice.sent_at is not None and notice.due_at is None
    # A lost or repeated queue message never sends twice.
    for task in pending:
        huey.execute(task)
    assert len(outbox) == 1


def test_retries_double_from_mail_retry_seconds_and_a_refused_recipient_ends_them(app, people):
    from datetime import timedelta

    from mailing_support import Relay

    from objectwar.accounts.services import find_user_by_email
    from objectwar.extensions import db as _db
    from objectwar.extensions import mail
    from objectwar.mail import notices as delivery
    from objectwar.mail import notices as mail_notices
    from objectwar.mail.models import NoticeKind
    from objectwar.types import utcnow

    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_SUPPRESS_SEND=False,
                      MAIL_RETRY_SECONDS=60)  # nothing listens on port 1
    relay = Relay(answers={"alice@a.example": "550 5.1.1 no such user"}).start()
    try:
        with app.test_request_context():
            mail.init_app(app)
            user = find_user_by_email("alice@a.example")
            notice = mail_notices.queue(NoticeKind.PASSWORD_RESET, user.id, user.email, "en")
            _db.session.commit()
            for attempt, delay in ((1, 60), (2, 120), (3, 240)):
                before = utcnow()
                assert delivery.deliver(notice.id) is False
                _db.session.refresh(notice)
                assert notice.attempts == attempt
                assert before + timedelta(seconds=delay - 1) <= notice.due_at
                assert notice.due_at <= utcnow() + timedelta(seconds=delay + 1)
            assert delivery.deliver_due(older_than_seconds=0) == 0  # not due yet
            # The relay answers now, but refuses the address: no more tries.
            app.config.update(relay.config())
            mail.init_app(app)
            assert delivery.deliver(notice.id) is False
            _db.session.refresh(notice)
            assert notice.due_at is None and notice.sent_at is None
            assert notice.last_error == "550 recipient refused"  # the code, never the relay's text
            assert "alice" not in notice.last_error  # the relay's text quotes the address
    finally:
        relay.stop()
