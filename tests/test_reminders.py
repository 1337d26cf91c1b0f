"""One reminder to confirm: after ``CONFIRMATION_REMINDER_HOURS``, once, within the daily cap,
never to a suppressed address; for signatures and subscriptions alike. The clock is given."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from objectwar import security, tasks
from objectwar.extensions import db as _db
from objectwar.mailing import subscribe as mailing
from objectwar.mailing import suppression
from objectwar.mailing.models import Subscription, SuppressionReason
from objectwar.petitions import signing
from objectwar.petitions.models import Signature
from objectwar.types import utcnow
from tests.signing_support import SLUG, person

REMINDER = "This is the only reminder we send"


@pytest.fixture
def ctx(app, demo):
    with app.test_request_context("/"):
        yield


def signed_and_sent(**changes) -> tuple[int, Signature]:
    outcome = signing.sign(SLUG, person(**changes), default_locale="en")
    assert signing.send_confirmation(outcome.signature_id)
    return outcome.signature_id, _db.session.get(Signature, outcome.signature_id)


def time_passes(model, hours: float) -> None:
    """Every row's emails, as if sent ``hours`` earlier (the sending code reads the real clock)."""
    back = timedelta(hours=hours)
    for row in _db.session.scalars(select(model)):
        row.confirmation_sent_at -= back
        if model is Signature:
            row.confirmation_window_start -= back
    _db.session.commit()


def test_one_reminder_after_the_hours_in_the_signers_language(ctx, outbox):
    signature_id, signature = signed_and_sent(locale="de")
    sent_at = signature.confirmation_sent_at
    assert signing.remind_unconfirmed(now=sent_at + timedelta(hours=23)) == []
    time_passes(Signature, 24.1)
    assert signing.remind_unconfirmed() == [signature_id]
    assert signing.send_confirmation(signature_id)
    first, reminder = outbox
    assert reminder.subject == first.subject == "Bitte bestätigen Sie Ihre Unterschrift"
    assert reminder.sender == first.sender
    assert "/confirm/" in reminder.body and "einzige Erinnerung" in reminder.body
    assert "einzige Erinnerung" not in first.body
    # never another: not a day later, not a week later
    for hours in (25, 24 * 7):
        time_passes(Signature, hours)
        assert signing.remind_unconfirmed() == []
    assert len(outbox) == 2


def test_no_reminder_for_the_confirmed_the_suppressed_or_when_switched_off(ctx, outbox, app):
    confirmed_id, confirmed = signed_and_sent(email="confirmed@example.org")
    token = signing.confirmation_token(confirmed)
    signing.confirm(SLUG, token)
    _suppressed_id, suppressed = signed_and_sent(email="gone@example.org")
    suppression.suppress(security.email_digest("gone@example.org"), SuppressionReason.DELETED)
    _db.session.commit()
    later = suppressed.confirmation_sent_at + timedelta(hours=30)
    assert signing.remind_unconfirmed(now=later) == []
    waiting_id, _waiting = signed_and_sent(email="waiting@example.org")
    app.config["CONFIRMATION_REMINDER_HOURS"] = 0
    assert signing.remind_unconfirmed(now=later) == []
    app.config["CONFIRMATION_REMINDER_HOURS"] = 24
    assert signing.remind_unconfirmed(now=later) == [waiting_id]


def test_the_reminder_keeps_to_the_three_emails_a_day(ctx, outbox, app):
    app.config["CONFIRMATION_REMINDER_HOURS"] = 1
    for _ in range(3):  # the signer asked three times within the hour: three emails today
        signature_id, signature = signed_and_sent()
    assert signature.confirmation_sends == 3
    assert signing.remind_unconfirmed(now=signature.confirmation_sent_at + timedelta(hours=2)) == []
    # the next day the allowance is back, and the one reminder may go
    time_passes(Signature, 25)
    assert signing.remind_unconfirmed() == [signature_id]
    assert signing.send_confirmation(signature_id)
    assert len(outbox) == 4 and REMINDER in outbox[3].body


def test_two_runners_at_once_remind_once(ctx, outbox):
    signature_id, signature = signed_and_sent()
    later = signature.confirmation_sent_at + timedelta(hours=25)
    first = signing.remind_unconfirmed(now=later)
    # the second runner saw the row before the first one's UPDATE: its own UPDATE finds nothing
    second = _db.session.scalars(
        update(Signature).where(Signature.id == signature_id, Signature.reminded_at.is_(None))
        .values(reminded_at=later).returning(Signature.id)).all()
    assert first == [signature_id] and second == []


def test_a_subscription_gets_its_one_reminder_through_the_periodic_task(app, client, demo, outbox):
    from tests.helpers import subscribe

    subscribe(client, email="reader@example.org", locale="uk")
    assert len(outbox) == 1
    with app.app_context():  # a day and more passes
        _db.session.execute(update(Subscription).values(
            confirmation_sent_at=utcnow() - timedelta(hours=25)))
        _db.session.commit()
    with app.test_request_context():
        assert tasks.remind_unconfirmed.call_local() == {"signatures": 0, "subscriptions": 1}
    assert len(outbox) == 2
    reminder = outbox[1]
    assert reminder.subject == outbox[0].subject and "/confirm/" in reminder.body
    assert "єдине нагадування" in reminder.body  # in the subscriber's language
    with app.test_request_context():
        assert tasks.remind_unconfirmed.call_local() == {"signatures": 0, "subscriptions": 0}
        assert mailing.remind_unconfirmed(now=utcnow() + timedelta(days=3)) == []
        assert _db.session.scalar(select(Subscription.reminded_at)) is not None
