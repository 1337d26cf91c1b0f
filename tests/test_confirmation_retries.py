"""Confirmation emails (signatures, list subscriptions) retried like notices, through a real relay.

The relay answers 451 to the recipient (greylisting): each failed send makes
the next try come ``MAIL_RETRY_SECONDS`` later, doubling (60, 120, 240 s ...),
until ``retry.MAX_ATTEMPTS`` failures give the email up. A 5xx gives it up at once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from objectwar import security, tasks
from objectwar.extensions import db as _db
from objectwar.mail import message as mailer
from objectwar.mail import retry
from objectwar.mailing import subscribe as mailing
from objectwar.mailing.models import Subscription
from objectwar.petitions import signing
from objectwar.petitions.models import Signature
from objectwar.types import utcnow
from tests.mailing_support import Relay
from tests.signing_support import SLUG, person

ADDRESS = "greylisted@example.org"


@pytest.fixture
def relay():
    server = Relay(answers={ADDRESS: "451 4.7.1 greylisted, try again later"}).start()
    yield server
    server.stop()


@pytest.fixture
def app_overrides(relay):
    return {**relay.config(), "MAIL_RETRY_SECONDS": 60}


@pytest.fixture
def ctx(app, demo):
    with app.test_request_context("/"):
        yield


def make_due_now(model, row_id: int) -> None:
    """Let the clock pass: the email due later is due now."""
    _db.session.execute(update(model).where(model.id == row_id)
                        .values(confirmation_due_at=utcnow() - timedelta(seconds=1)))
    _db.session.commit()


def read(model, row_id: int):
    _db.session.expire_all()
    return _db.session.get(model, row_id)


def assert_doubling_then_given_up(model, row_id: int, send) -> None:
    for failures in range(1, retry.MAX_ATTEMPTS):
        before = utcnow()
        with pytest.raises(mailer.SendError, match="451 recipient refused"):
            send(row_id)
        row = read(model, row_id)
        delay = 60 * 2 ** (failures - 1)  # 60, 120, 240, ...
        assert row.confirmation_failures == failures
        assert before + timedelta(seconds=delay - 1) <= row.confirmation_due_at
        assert row.confirmation_due_at <= utcnow() + timedelta(seconds=delay + 1)
        assert send(row_id) is False  # not due yet: nothing is tried
        make_due_now(model, row_id)
    # The last failure gives the email up: no exception for the task, nothing due.
    assert send(row_id) is False
    row = read(model, row_id)
    assert row.confirmation_failures == retry.MAX_ATTEMPTS
    assert row.confirmation_due_at is None and row.confirmation_sent_at is None


def test_signature_confirmation_retries_double_then_give_up(ctx, relay):
    signature_id = signing.sign(SLUG, person(email=ADDRESS), default_locale="en").signature_id
    assert_doubling_then_given_up(Signature, signature_id, signing.send_confirmation)
    assert relay.count() == 0
    # The relay takes the address now; signing again makes a new email due, counted afresh.
    relay.answers.clear()
    assert signing.sign(SLUG, person(email=ADDRESS), default_locale="en").signature_id == signature_id
    assert read(Signature, signature_id).confirmation_failures == 0
    assert signing.send_confirmation(signature_id) is True
    row = read(Signature, signature_id)
    assert row.confirmation_sent_at is not None and row.confirmation_due_at is None
    assert relay.recipients() == {ADDRESS: 1}


def test_subscription_confirmation_retries_double_then_give_up(ctx, relay):
    subscription_id = mailing.request_subscription(
        "updates", {"email": ADDRESS, "consent": "y"}, default_locale="en")
    assert_doubling_then_given_up(Subscription, subscription_id,
                                  mailing.send_subscription_confirmation)
    relay.answers.clear()
    assert mailing.request_subscription(
        "updates", {"email": ADDRESS, "consent": "y"}, default_locale="en") == subscription_id
    assert read(Subscription, subscription_id).confirmation_failures == 0
    assert mailing.send_subscription_confirmation(subscription_id) is True
    assert relay.recipients() == {ADDRESS: 1}


def test_a_sent_email_resets_the_count(ctx, relay):
    signature_id = signing.sign(SLUG, person(email=ADDRESS), default_locale="en").signature_id
    with pytest.raises(mailer.SendError, match="451 recipient refused"):
        signing.send_confirmation(signature_id)
    assert read(Signature, signature_id).confirmation_failures == 1
    relay.answers.clear()
    make_due_now(Signature, signature_id)
    assert signing.send_confirmation(signature_id) is True
    assert read(Signature, signature_id).confirmation_failures == 0


def test_a_refused_recipient_is_given_up_at_once(ctx, relay):
    relay.answers[ADDRESS] = "550 5.1.1 no such user"
    signature_id = signing.sign(SLUG, person(email=ADDRESS), default_locale="en").signature_id
    assert signing.send_confirmation(signature_id) is False
    row = read(Signature, signature_id)
    assert row.confirmation_due_at is None and row.confirmation_failures == 1
    subscription_id = mailing.request_subscription(
        "updates", {"email": ADDRESS, "consent": "y"}, default_locale="en")
    assert mailing.send_subscription_confirmation(subscription_id) is False
    assert read(Subscription, subscription_id).confirmation_due_at is None


def test_the_periodic_task_retries_with_the_same_rule(app, demo, relay):
    with app.test_request_context("/"):
        signature_id = signing.sign(SLUG, person(email=ADDRESS), default_locale="en").signature_id
        make_due_now(Signature, signature_id)
        _db.session.execute(update(Signature).where(Signature.id == signature_id)
                            .values(confirmation_due_at=utcnow() - timedelta(minutes=2)))
        _db.session.commit()
    before = utcnow()
    tasks.send_overdue_signature_confirmations.call_local()  # logs the failure, raises nothing
    with app.app_context():
        row = _db.session.scalar(select(Signature).where(
            Signature.email_digest == security.email_digest(ADDRESS)))
        assert row.confirmation_failures == 1
        assert row.confirmation_due_at >= before + timedelta(seconds=59)


def test_a_notice_to_a_greylisting_relay_is_retried_not_dropped(app, people, relay):
    from objectwar.accounts.services import find_user_by_email
    from objectwar.mail import notices
    from objectwar.mail.models import NoticeKind

    relay.answers["alice@a.example"] = "450 4.2.0 mailbox busy"
    with app.test_request_context():
        user = find_user_by_email("alice@a.example")
        notice = notices.queue(NoticeKind.PASSWORD_RESET, user.id, user.email, "en")
        _db.session.commit()
        for attempt, delay in ((1, 60), (2, 120), (3, 240)):
            before = utcnow()
            assert notices.deliver(notice.id) is False
            _db.session.refresh(notice)
            assert notice.attempts == attempt and notice.last_error == "450 recipient refused"
            assert before + timedelta(seconds=delay - 1) <= notice.due_at
            assert notice.due_at <= utcnow() + timedelta(seconds=delay + 1)
        relay.answers.clear()
        assert notices.deliver(notice.id) is True
    assert relay.recipients() == {"alice@a.example": 1}
