"""Claiming a mail-out's deliveries, within its throttle.

A claim is one short transaction that locks the mail-out's row (``SELECT ... FOR
UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), re-reads its status, puts
rows whose claim lapsed back to pending (a killed worker), spends tokens of the
throttle and marks due rows ``sending`` under a token of its own (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL). The claim rule is the one of every email row
(``objectwar.mail.claims``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from objectwar.extensions import db
from objectwar.mail import claims
from objectwar.mailing.models import Delivery, DeliveryStatus, Mailout, MailoutStatus
from objectwar.types import utcnow

BATCH_SIZE = 200  # recipients per claim (MAILOUT_BATCH_SIZE overrides)
FIRST_CLAIM = 20  # rows of a worker's first claim, before it has measured its pace


def setting(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


def batch_size() -> int:
    return int(setting("MAILOUT_BATCH_SIZE", BATCH_SIZE))


def throttle_burst(per_second: float) -> int:
    """The most tokens the bucket holds: about one second of sending, one at the least."""
    return min(batch_size(), max(1, math.ceil(per_second)))


@dataclass
class Claim:
    """What one claim got: rows to send under ``token``, or why there are none."""

    status: MailoutStatus
    rows: list[int] = field(default_factory=list)
    token: str | None = None
    wait: float | None = None  # seconds until the throttle (or a relay back-off) allows more
    per_second: float = 0.0  # the mail-out's pace, for spacing the claim's messages
    epoch: datetime | None = None  # the mail-out's last (re)start: the claim is good within it


def begin_write() -> None:
    """Begin a transaction that may write; on SQLite take the write lock now.

    SQLite's default deferred transactions fail (SQLITE_BUSY) when two readers
    both try to write; ``BEGIN IMMEDIATE`` makes claimers queue instead.
    """
    db.session.rollback()
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def claim_batch(mailout_id: int, size: int) -> Claim:
    """Claim up to ``size`` due deliveries of a sending mail-out, within its throttle.

    The throttle is a token bucket that starts with one token at start and at
    resume and holds about one second of sending at most: whatever the number
    of workers, a mail-out has claimed (so sent) at most
    ``1 + seconds since start × rate_per_minute / 60`` recipients.
    """
    begin_write()
    now = utcnow()
    row = db.session.execute(
        select(Mailout.status, Mailout.rate_per_minute, Mailout.throttle_tokens, Mailout.throttle_at,
               Mailout.resumed_at)
        .where(Mailout.id == mailout_id).with_for_update()
    ).one_or_none()
    if row is None or row.status != MailoutStatus.SENDING:
        db.session.rollback()
        return Claim(status=row.status if row else MailoutStatus.CANCELLED)
    if row.throttle_at is not None and row.throttle_at > now:  # the relay is backed off
        db.session.rollback()
        return Claim(status=row.status, wait=(row.throttle_at - now).total_seconds())
    per_second = row.rate_per_minute / 60.0
    burst = throttle_burst(per_second)
    elapsed = (now - row.throttle_at).total_seconds() if row.throttle_at else 0.0
    tokens = min(float(burst), row.throttle_tokens + elapsed * per_second)
    wanted = min(size, burst)  # about one claim a second at most
    if tokens < wanted:
        _save_bucket(mailout_id, tokens, now)
        db.session.commit()
        return Claim(status=row.status, wait=(wanted - tokens) / per_second)

    # Rows whose claim nobody renewed for a lease belong to a dead worker.
    db.session.execute(
        update(Delivery)
        .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.SENDING,
               Delivery.claimed_at < claims.stale_before(now))
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, **claims.released())
        .execution_options(synchronize_session=False)
    )
    ids = list(db.session.scalars(
        select(Delivery.id)
        .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.PENDING,
               Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(int(min(size, tokens)))
        .with_for_update(skip_locked=True)
    ))
    token = claims.new_token()
    if ids:
        db.session.execute(
            update(Delivery).where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.SENDING, claim_token=token, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
    _save_bucket(mailout_id, tokens - len(ids), now)
    db.session.commit()
    return Claim(status=row.status, rows=ids, token=token, per_second=per_second,
                 epoch=row.resumed_at)


def _save_bucket(mailout_id: int, tokens: float, now: datetime) -> None:
    db.session.execute(
        update(Mailout).where(Mailout.id == mailout_id)
        .values(throttle_tokens=tokens, throttle_at=now)
        .execution_options(synchronize_session=False)
    )


class ClaimSize:
    """How many rows this worker claims at once: what it sends in a third of the lease.

    A worker never holds more rows than it can send before its claim needs
    renewing; it starts with ``FIRST_CLAIM`` rows and then follows the pace it
    measured (a slow relay, a throttle, a busy machine all make claims smaller).
    """

    def __init__(self) -> None:
        self.limit = batch_size()
        self.size = min(self.limit, FIRST_CLAIM)

    def measured(self, messages: int, seconds: float) -> None:
        if messages <= 0:
            return
        per_message = max(seconds / messages, 1e-6)
        budget = claims.lease_seconds() / claims.RENEW_FRACTION
        self.size = max(1, min(self.limit, int(budget / per_message)))


def release(claim: Claim) -> None:
    """Give a claim's rows back to pending, untried (its worker could not send them)."""
    if not claim.rows:
        return
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(claim.rows), Delivery.status == DeliveryStatus.SENDING,
               Delivery.claim_token == claim.token)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow(), **claims.released())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
