"""Helpers for rows that are their own outbox.

The retry rule is :mod:`objectwar.mail.retry`, the claim rule
:mod:`objectwar.mail.claims`; both hold for every email row.

A signature or a subscription is the outbox of its own confirmation email:
``confirmation_due_at`` is set while the email is due and cleared once sent,
``confirmation_failures`` counts the failed sends of the email now due (reset
when it is sent, and when a new email becomes due).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_mail import Message
from sqlalchemy import select, update

from objectwar.extensions import db
from objectwar.mail import claims, retry, verp
from objectwar.mail import message as mailer
from objectwar.types import utcnow

# -- rows that are their own outbox ------------------------------------------------


def claim_due(model: Any, row_id: int, *conditions: Any, now: datetime | None = None) -> str | None:
    """Claim a row whose email is due (and meets ``conditions``); the claim's token or ``None``."""
    now = now or utcnow()
    return claims.take(model, row_id, model.confirmation_due_at.is_not(None),
                       model.confirmation_due_at <= now, *conditions, now=now)


def set_due(model: Any, row_id: int, due_at: datetime | None, token: str | None = None) -> None:
    """Drop what the session holds and set when the row's email is due next.

    With ``token``, only while that claim holds the row, and the claim ends.
    """
    db.session.rollback()
    held = [model.claim_token == token] if token is not None else []
    db.session.execute(
        update(model).where(model.id == row_id, *held)
        .values(confirmation_due_at=due_at, **(claims.released() if token else {}))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def send(model: Any, row_id: int, token: str, compose: Callable[[], Message], *,
         sent_as: verp.Tag | None = None) -> bool:
    """Build and send a claimed row's email, if the claim still holds the row; whether it
    went out. ``sent_as`` names the row in the envelope sender (``objectwar.mail.verp``).

    The claim is checked and renewed right before the message goes on the wire. A
    message that cannot be built or sent is counted (:func:`send_failed`, so a broken
    record is given up after ``retry.MAX_ATTEMPTS``), then raised when it will be
    tried again.
    """
    try:
        message = compose()
        if not claims.hold(model, row_id, token):
            return False
        mailer.send(message, sent_as=sent_as)
    except Exception as error:
        if send_failed(model, row_id, token, error):
            raise
        return False
    return True


def send_failed(model: Any, row_id: int, token: str, error: BaseException) -> bool:
    """Count a failed send of a row's email, set its next try (``retry.next_try``), end the claim.

    Drops what the failed send left in the session. Returns whether the email
    will be tried again. A row whose email stopped being due meanwhile (the
    person confirmed) or that another claim took stays as it is.
    """
    db.session.rollback()
    # A message that could not be built counts as a transient failure: given up
    # after ``retry.MAX_ATTEMPTS`` like any other.
    permanent = isinstance(error, mailer.SendError) and error.permanent

    def write() -> tuple[int, datetime | None]:
        failures = (db.session.scalar(
            select(model.confirmation_failures).where(model.id == row_id)) or 0) + 1
        due_at = retry.next_try(failures, permanent=permanent)
        db.session.execute(
            update(model).where(model.id == row_id, model.confirmation_due_at.is_not(None),
                                model.claim_token == token)
            .values(confirmation_due_at=due_at, confirmation_failures=failures, **claims.released())
            .execution_options(synchronize_session=False)
        )
        # Nothing due any more (the person confirmed meanwhile): the claim ends all the same.
        db.session.execute(
            update(model).where(model.id == row_id, model.claim_token == token)
            .values(**claims.released()).execution_options(synchronize_session=False)
        )
        db.session.commit()
        return failures, due_at

    # The database away (the failure may be its doing): waited for, so that the claim
    # ends now and the next try comes by the retry rule, not after the lease.
    failures, due_at = claims.persist(write)
    if due_at is None:
        current_app.logger.warning("Email of %s %s given up after %d failed sends: %s",
                                   model.__tablename__, row_id, failures,
                                   error if isinstance(error, mailer.SendError) else type(error).__name__)
    return due_at is not None


def mark_sent(model: Any, row_id: int, token: str, sent_at: datetime, **values: Any) -> bool:
    """The row's email went out: nothing is due, no failure counts, the claim ends; commits.

    ``values`` are written with it. Returns whether the claim still held the row.
    The message is out: a database that is away for a while is waited for
    (``claims.persist``), so that the lapsed claim does not send it twice.
    """
    db.session.rollback()

    def write() -> bool:
        result = db.session.execute(
            update(model).where(model.id == row_id, model.claim_token == token)
            .values(confirmation_due_at=None, confirmation_sent_at=sent_at, confirmation_failures=0,
                    **claims.released(), **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return result.rowcount == 1

    return claims.persist(write)


def overdue_ids(model: Any, older_than: timedelta, limit: int) -> list[int]:
    """Ids of unclaimed rows whose email has been due for longer than ``older_than``, oldest first."""
    now = utcnow()
    return list(db.session.scalars(
        select(model.id)
        .where(model.confirmation_due_at.is_not(None), model.confirmation_due_at <= now - older_than,
               claims.free(model, now))
        .order_by(model.confirmation_due_at)
        .limit(limit)
    ))


def remind(model: Any, *conditions: Any, after: timedelta, now: datetime | None = None,
           limit: int = 500) -> list[int]:
    """Make the one reminder due on rows still unconfirmed ``after`` their last email.

    A row gets one reminder in its life (``reminded_at`` is set with it and never
    cleared), only when nothing else is due for it, and only if it meets
    ``conditions`` (unconfirmed, not suppressed, within the day's allowance: the
    domain's rules). One conditional UPDATE: two runners at once remind once.
    Returns the ids made due, for the caller to queue.
    """
    now = now or utcnow()
    ids = list(db.session.scalars(
        select(model.id).where(
            model.reminded_at.is_(None), model.confirmation_due_at.is_(None),
            model.confirmation_sent_at.is_not(None), model.confirmation_sent_at <= now - after,
            *conditions)
        .order_by(model.confirmation_sent_at).limit(limit)))
    if not ids:
        return []
    reminded = list(db.session.scalars(
        update(model).where(model.id.in_(ids), model.reminded_at.is_(None),
                            model.confirmation_due_at.is_(None))
        .values(reminded_at=now, confirmation_due_at=now, confirmation_failures=0)
        .returning(model.id).execution_options(synchronize_session=False)))
    db.session.commit()
    return reminded


def is_reminder(row: Any) -> bool:
    """Whether the email now due on ``row`` is its reminder (no email went out since)."""
    return row.reminded_at is not None and (
        row.confirmation_sent_at is None or row.confirmation_sent_at < row.reminded_at)
