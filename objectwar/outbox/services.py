"""Adding notices to the outbox and claiming them for sending."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from objectwar.extensions import db
from objectwar.outbox import rows
from objectwar.outbox.models import Notice, NoticeKind
from objectwar.types import utcnow

# A claim older than this belongs to a worker that died: the notice is due again.
CLAIM_SECONDS = 300


def queue(kind: NoticeKind, target_id: int, recipient: str, locale: str,
          message: str | None = None) -> Notice:
    """Add an email to the outbox (committed with the change it belongs to)."""
    notice = Notice(kind=kind, target_id=target_id, recipient=recipient, locale=locale,
                    message=message, due_at=utcnow())
    db.session.add(notice)
    return notice


def due_ids(older_than_seconds: int = 0, limit: int = 500) -> list[int]:
    """Notices due for at least ``older_than_seconds`` and not claimed by a live worker."""
    now = utcnow()
    query = (
        select(Notice.id)
        .where(Notice.due_at.is_not(None), Notice.due_at <= now - timedelta(seconds=older_than_seconds),
               or_(Notice.claimed_at.is_(None),
                   Notice.claimed_at < now - timedelta(seconds=CLAIM_SECONDS)))
        .order_by(Notice.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def claim(notice_id: int) -> Notice | None:
    """Take a due notice for this worker; ``None`` if it is sent or another worker has it."""
    now = utcnow()
    result = db.session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.due_at.is_not(None),
               or_(Notice.claimed_at.is_(None),
                   Notice.claimed_at < now - timedelta(seconds=CLAIM_SECONDS)))
        .values(claimed_at=now, attempts=Notice.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(Notice, notice_id, populate_existing=True)


#: Notices whose row is deleted once sent: it holds the address of someone who may
#: be asking to be forgotten, and no page or count needs it afterwards.
NOT_KEPT = frozenset({NoticeKind.DATA_EXPORT, NoticeKind.DATA_ERASURE})


def mark_sent(notice: Notice, note: str | None = None) -> None:
    if notice.kind in NOT_KEPT:
        db.session.delete(notice)
        db.session.commit()
        return
    notice.sent_at = utcnow()
    notice.due_at = None
    notice.claimed_at = None
    notice.last_error = note
    db.session.commit()


def purge_finished(before: datetime) -> int:
    """Delete notices created before ``before`` that are sent or given up; the caller commits.

    Each holds its recipient's address (encrypted): kept no longer than the
    retention period. Returns how many went.
    """
    return db.session.execute(
        delete(Notice).where(Notice.due_at.is_(None), Notice.created_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount


def mark_failed(notice: Notice, error: str, *, permanent: bool = False) -> None:
    """Note why a notice failed and when to try again (the rule of :mod:`objectwar.outbox.rows`).

    The first retry comes ``MAIL_RETRY_SECONDS`` later and the delay doubles with
    each further attempt (CONTRACT.md); a refused recipient, or ``rows.MAX_ATTEMPTS``
    failures, end the tries.
    """
    notice.claimed_at = None
    notice.last_error = error[:300]
    notice.due_at = rows.next_try(notice.attempts, permanent=permanent)
    if notice.due_at is None and notice.kind in NOT_KEPT:
        db.session.delete(notice)  # given up: nothing will read it again
    db.session.commit()
