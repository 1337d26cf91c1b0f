"""The claim rule of every email row (``mail.claims``): one holder, kept while renewed.

Times are given explicitly, so the tests say what a lease means without
waiting for one to pass.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from objectwar.extensions import db as _db
from objectwar.mail import claims
from objectwar.mail import notices as mail_notices
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing.models import Delivery, DeliveryStatus
from objectwar.mailouts import claiming, editing, send, status, sweep
from objectwar.types import utcnow
from tests.factories import make_list

LEASE = 300


@pytest.fixture
def app_overrides():
    return {"DELIVERY_CLAIM_SECONDS": LEASE, "MAILOUT_RATE_PER_MINUTE": 1_000_000}


@pytest.fixture
def notice_id(app):
    with app.app_context():
        notice = mail_notices.queue(NoticeKind.PASSWORD_RESET, 1, "someone@example.org", "en")
        _db.session.commit()
        return notice.id


def test_one_claimer_wins_and_a_renewed_claim_outlives_its_first_lease(app, notice_id):
    with app.app_context():
        start = utcnow()
        token = claims.take(Notice, notice_id, now=start)
        assert token is not None
        assert claims.take(Notice, notice_id, now=start) is None
        # Renewed 200 s in: still held 301 s after the claim was made...
        assert claims.hold(Notice, notice_id, token, now=start + timedelta(seconds=200))
        assert claims.take(Notice, notice_id, now=start + timedelta(seconds=LEASE + 1)) is None
        # ...and free once nobody renewed it for a whole lease (its worker died).
        later = start + timedelta(seconds=200 + LEASE + 1)
        second = claims.take(Notice, notice_id, now=later)
        assert second is not None and second != token


def test_a_holder_whose_claim_was_taken_can_neither_send_nor_mark(app, notice_id):
    with app.app_context():
        start = utcnow()
        first = claims.take(Notice, notice_id, now=start)
        second = claims.take(Notice, notice_id, now=start + timedelta(seconds=LEASE + 1))
        assert first is not None and second is not None
        assert not claims.hold(Notice, notice_id, first)
        notice = _db.session.get(Notice, notice_id)
        assert not mail_notices.mark_sent(notice, first)
        assert _db.session.get(Notice, notice_id, populate_existing=True).due_at is not None
        assert mail_notices.mark_sent(notice, second)
        assert _db.session.get(Notice, notice_id, populate_existing=True).due_at is None


def test_two_claims_made_in_the_same_instant_differ(app, notice_id):
    with app.app_context():
        moment = utcnow()
        tokens = {claims.new_token() for _ in range(100)}
        assert len(tokens) == 100
        assert claims.take(Notice, notice_id, now=moment) is not None
        assert claims.take(Notice, notice_id, now=moment) is None


def test_renewing_a_batch_keeps_every_row_it_still_holds(app):
    with app.app_context():
        mailing_list = make_list(6)
        mailout = editing.create_mailout({"list": mailing_list.slug, "subject": "News",
                                           "body_markdown": "Hello"})
        sweep.start_sending(mailout.id)
        first = claiming.claim_batch(mailout.id, 3)
        assert len(first.rows) == 3
        marks = send.Marks(mailout.id, mailout.list_id, first.token)
        old = utcnow() - timedelta(seconds=LEASE - 1)
        _db.session.execute(Delivery.__table__.update().values(claimed_at=old))
        _db.session.commit()
        marks.renew_all()
        marks.close()
        renewed = _db.session.scalars(select(Delivery.claimed_at)
                                      .where(Delivery.status == DeliveryStatus.SENDING)).all()
        assert len(renewed) == 3 and all(moment > old + timedelta(seconds=LEASE - 5)
                                         for moment in renewed)


def test_claims_are_sized_to_a_third_of_the_lease(app):
    with app.app_context():
        size = claiming.ClaimSize()
        assert size.size == min(claiming.batch_size(), claiming.FIRST_CLAIM)
        size.measured(messages=10, seconds=10.0)  # a relay that takes a second a message
        assert size.size == LEASE // 3
        size.measured(messages=10, seconds=0.01)  # a fast one: a whole batch
        assert size.size == claiming.batch_size()
        size.measured(messages=1, seconds=LEASE)  # slower than a third of the lease: one row
        assert size.size == 1


def test_a_claim_made_before_a_pause_and_resume_is_not_sent_from(app):
    """The rest of an old claim would burst past the throttle, which restarts at resume."""
    with app.app_context():
        mailing_list = make_list(4)
        mailout = editing.create_mailout({"list": mailing_list.slug, "subject": "News",
                                           "body_markdown": "Hello"})
        sweep.start_sending(mailout.id)
        old = claiming.claim_batch(mailout.id, 4)
        first = old.rows[0]
        subscriber = _db.session.scalar(select(Delivery.subscriber_id).where(Delivery.id == first))
        marks = send.Marks(mailout.id, mailout.list_id, old.token, old.epoch)
        assert marks.hold(first, subscriber)[0]  # held while nothing happened
        status.pause(mailout.id)
        sweep.start_sending(mailout.id)
        assert marks.hold(first, subscriber)[0] is False
        marks.close()


def test_a_row_released_without_its_token_is_free(app, notice_id):
    """A worker of the version before tokens clears ``claimed_at`` only: the row is free."""
    with app.app_context():
        token = claims.take(Notice, notice_id)
        _db.session.execute(Notice.__table__.update().values(claimed_at=None))
        _db.session.commit()
        again = claims.take(Notice, notice_id)
        assert token is not None and again is not None and again != token


def test_a_message_that_cannot_be_built_counts_as_a_failed_send(app, demo):
    from objectwar.mail import rows
    from objectwar.petitions import signing
    from objectwar.petitions.models import Signature
    from tests.signing_support import SLUG, person

    with app.test_request_context("/"):
        signature_id = signing.sign(SLUG, person(), default_locale="en").signature_id
        token = rows.claim_due(Signature, signature_id)

        def broken():
            raise ValueError("a bug in a template")

        with pytest.raises(ValueError):
            rows.send(Signature, signature_id, token, broken)
        row = _db.session.get(Signature, signature_id)
        assert row.confirmation_failures == 1 and row.claim_token is None
        assert row.confirmation_due_at is not None  # tried again later, then given up
