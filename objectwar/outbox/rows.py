"""The retry rule of every email row, and helpers for rows that are their own outbox.

One rule for notices, signatures and list subscriptions (CONTRACT.md): the
first retry of a transient failure comes ``MAIL_RETRY_SECONDS`` later, the
delay doubles with each further failure, and after ``MAX_ATTEMPTS`` failures,
or at once for a permanent one, the email is given up.

A signature or a subscription is the outbox of its own confirmation email:
``confirmation_due_at`` is set while the email is due and cleared once sent,
``confirmation_failures`` counts the failed sends of the email now due (reset
when it is sent, and when a new email becomes due).
"""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from objectwar.extensions import db
from objectwar.types import utcnow

# Failed sends after which an email is given up (with doubling delays from
# 60 s, the tenth failure comes about 8.5 hours after the first).
MAX_ATTEMPTS = 10


def is_permanent(error: BaseException) -> bool:
    """Whether a send can never succeed: retrying would not help.

    The relay refused the recipient with a 5xx (a 4xx, e.g. greylisting, is
    transient), the address cannot be encoded, or the relay offers no
    SMTPUTF8 for a non-ASCII local part.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reason in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    return isinstance(error, (UnicodeError, smtplib.SMTPNotSupportedError))


def describe(error: BaseException) -> str:
    """The kind of error and its SMTP code, never its text (relays quote the address)."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code = ",".join(str(c) for c, _reason in error.recipients.values())
    return f"{type(error).__name__} {code or ''}".strip()


def retry_delay(failures: int) -> float:
    """Seconds before the next try after ``failures`` failed sends: 60, 120, 240, ..."""
    return float(current_app.config.get("MAIL_RETRY_SECONDS", 60)) * 2 ** max(0, failures - 1)


def next_try(failures: int, *, permanent: bool = False) -> datetime | None:
    """When an email that failed ``failures`` times is due again; ``None``: give it up."""
    if permanent or failures >= MAX_ATTEMPTS:
        return None
    return utcnow() + timedelta(seconds=retry_delay(failures))


# -- rows that are their own outbox ------------------------------------------------


def set_due(model: Any, row_id: int, due_at: datetime | None) -> None:
    """Drop what the session holds and set when the row's email is due next."""
    db.session.rollback()
    db.session.execute(
        update(model).where(model.id == row_id)
        .values(confirmation_due_at=due_at).execution_options(synchronize_session=False)
    )
    db.session.commit()


def send_failed(model: Any, row_id: int, error: BaseException) -> bool:
    """Count a failed send of a row's email and set its next try (:func:`next_try`).

    Drops what the failed send left in the session. Returns whether the email
    will be tried again. A row whose email stopped being due meanwhile (the
    person confirmed) stays as it is.
    """
    db.session.rollback()
    failures = (db.session.scalar(
        select(model.confirmation_failures).where(model.id == row_id)) or 0) + 1
    due_at = next_try(failures, permanent=is_permanent(error))
    db.session.execute(
        update(model).where(model.id == row_id, model.confirmation_due_at.is_not(None))
        .values(confirmation_due_at=due_at, confirmation_failures=failures)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if due_at is None:
        current_app.logger.warning("Email of %s %s given up after %d failed sends: %s",
                                   model.__tablename__, row_id, failures, describe(error))
    return due_at is not None


def mark_sent(row: Any, sent_at: datetime) -> None:
    """The row's email went out: nothing is due, no failure counts (the caller commits)."""
    row.confirmation_due_at = None
    row.confirmation_sent_at = sent_at
    row.confirmation_failures = 0


def overdue_ids(model: Any, older_than: timedelta, limit: int) -> list[int]:
    """Ids of rows whose email has been due for longer than ``older_than``, oldest first."""
    cutoff = utcnow() - older_than
    return list(db.session.scalars(
        select(model.id)
        .where(model.confirmation_due_at.is_not(None), model.confirmation_due_at <= cutoff)
        .order_by(model.confirmation_due_at)
        .limit(limit)
    ))
