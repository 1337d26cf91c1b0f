"""Rows that are the outbox of their own email (signatures, list subscriptions).

Such a row has a ``confirmation_due_at`` column: set while its email is due,
cleared once sent. These helpers hold what every such sender shares.
"""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from objectwar.extensions import db
from objectwar.types import utcnow

# Never deliverable: the relay refused the recipient, the address cannot be
# encoded, or the relay offers no SMTPUTF8 for a non-ASCII local part.
PERMANENT_FAILURES = (UnicodeError, smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError)


def set_due(model: Any, row_id: int, due_at: datetime | None) -> None:
    """Drop what the failed send left in the session and set when the email is due next."""
    db.session.rollback()
    db.session.execute(
        update(model).where(model.id == row_id)
        .values(confirmation_due_at=due_at).execution_options(synchronize_session=False)
    )
    db.session.commit()


def retry_later(model: Any, row_id: int) -> None:
    """A transient failure: due again after ``MAIL_RETRY_SECONDS``."""
    set_due(model, row_id, utcnow() + timedelta(seconds=current_app.config.get("MAIL_RETRY_SECONDS", 60)))


def overdue_ids(model: Any, older_than: timedelta, limit: int) -> list[int]:
    """Ids of rows whose email has been due for longer than ``older_than``, oldest first."""
    cutoff = utcnow() - older_than
    return list(db.session.scalars(
        select(model.id)
        .where(model.confirmation_due_at.is_not(None), model.confirmation_due_at <= cutoff)
        .order_by(model.confirmation_due_at)
        .limit(limit)
    ))
