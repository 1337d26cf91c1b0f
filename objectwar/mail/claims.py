"""Claims: how a worker takes an email's row for itself, keeps it while it sends, and lets go.

One rule for every row that stands for an email to send: a mail-out's
delivery, a notice, a signature's or a subscription's confirmation.

* A claim is a token of its own (random; two claims made in the same
  microsecond still differ), written into the row with the time of its last
  renewal (``claimed_at``) by one conditional UPDATE: of two claimers, one wins.
* The holder renews the claim as it works and, right before it sends a
  message, checks in the very statement that renews it that the row still
  carries its token. A row that was taken back is not sent.
* A claim that has not been renewed for ``DELIVERY_CLAIM_SECONDS`` (the lease)
  belongs to a worker that died: the row may be claimed again, under a new
  token, so that the old holder, should it wake up, can neither send nor mark it.

So a live worker never loses what it holds, however slow the relay or busy the
machine, as long as one message takes less than the lease to send; a killed
one delays its rows by one lease at most.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.exc import DBAPIError, OperationalError

from objectwar.extensions import db
from objectwar.types import utcnow

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_LEASE_SECONDS = 300
# A holder renews its claims when a third of the lease has passed since it last
# did: two renewals can be missed (a stalled thread, a slow statement) before
# anyone may take the rows.
RENEW_FRACTION = 3


def lease_seconds() -> float:
    """How long a claim lives without renewal (``DELIVERY_CLAIM_SECONDS``)."""
    return float(current_app.config.get("DELIVERY_CLAIM_SECONDS", DEFAULT_LEASE_SECONDS))


def new_token() -> str:
    return secrets.token_hex(16)


def stale_before(now: datetime) -> datetime:
    """Claims renewed last before this moment belong to dead workers."""
    return now - timedelta(seconds=lease_seconds())


def free(model: Any, now: datetime) -> ColumnElement[bool]:
    """SQL: the row is not held by a live claim (none, or one not renewed for a lease).

    Read from ``claimed_at`` alone, which every claim sets and every release clears:
    a worker of the version before tokens, still running during an upgrade, claims
    and releases rows the same way.
    """
    return or_(model.claimed_at.is_(None), model.claimed_at < stale_before(now))


def take(model: Any, row_id: int, *conditions: Any, now: datetime | None = None,
         **values: Any) -> str | None:
    """Claim one row if it is free and meets ``conditions``; commits. Returns the token or ``None``.

    ``values`` are written with the claim (an attempt counter, say).
    """
    now = now or utcnow()
    token = new_token()
    result = db.session.execute(
        update(model)
        .where(model.id == row_id, free(model, now), *conditions)
        .values(claim_token=token, claimed_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return token if result.rowcount == 1 else None


def hold(model: Any, row_id: int, token: str, *, now: datetime | None = None) -> bool:
    """Renew the claim on one row and tell whether it is still this holder's; commits.

    Call it right before sending: ``False`` means the row was taken back (the
    claim lapsed), and the message must not go out.
    """
    result = db.session.execute(
        update(model)
        .where(model.id == row_id, model.claim_token == token)
        .values(claimed_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def released() -> dict[str, None]:
    """The values that end a claim (written with the row's new state)."""
    return {"claim_token": None, "claimed_at": None}


class Renewal:
    """When a holder working through many rows should renew all of its claims.

    ``due()`` is true once a third of the lease has passed since the last
    renewal (the claim itself counts as one); ``done()`` records one.
    """

    def __init__(self) -> None:
        self.interval = lease_seconds() / RENEW_FRACTION
        self.last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.interval

    def done(self) -> None:
        self.last = time.monotonic()


# How long a worker keeps trying to record that a message went out while the database
# is unreachable (a restart, a failover): past it the claim lapses and the message may
# go out twice; within it, never.
RECORD_PATIENCE_SECONDS = 120.0


def persist(write: Callable[[], T], *, patience: float | None = None) -> T:
    """Run ``write`` (a statement and its commit) until the database takes it.

    For what must not be lost once a message is on the wire: its being sent. Only a
    lost or refused connection is retried (``OperationalError``, or a connection
    SQLAlchemy invalidated), with a growing pause; any other error is raised at once.
    """
    deadline = time.monotonic() + (RECORD_PATIENCE_SECONDS if patience is None else patience)
    pause = 0.25
    while True:
        try:
            return write()
        except DBAPIError as error:
            db.session.rollback()
            if not (isinstance(error, OperationalError) or error.connection_invalidated):
                raise
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("The database is unreachable; recording a sent message again in %.1f s", pause)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
