"""Adding notices to the outbox and claiming them for sending."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from objectwar.extensions import db
from objectwar.outbox import claims, retry
from objectwar.outbox.models import Notice, NoticeKind
from objectwar.types import utcnow


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
               claims.free(Notice, now))
        .order_by(Notice.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def claim(notice_id: int) -> tuple[Notice, str] | None:
    """Take a due notice for this worker (``outbox.claims``): the notice and the claim's token;
    ``None`` if it is sent or another worker holds it."""
    token = claims.take(Notice, notice_id, Notice.due_at.is_not(None), attempts=Notice.attempts + 1)
    if token is None:
        return None
    return db.session.get(Notice, notice_id, populate_existing=True), token


#: Notices whose row is deleted once sent: it holds the address of someone who may
#: be asking to be forgotten, and no page or count needs it afterwards.
NOT_KEPT = frozenset({NoticeKind.DATA_EXPORT, NoticeKind.DATA_ERASURE})


def _finish(notice: Notice, token: str, **values: object) -> bool:
    """End the claim with ``values`` (or delete a notice not kept); whether the claim held it."""
    db.session.rollback()
    held = (Notice.id == notice.id, Notice.claim_token == token)
    if values.get("due_at") is None and notice.kind in NOT_KEPT:
        statement = delete(Notice).where(*held)  # nothing will read it again
    else:
        statement = update(Notice).where(*held).values(**values, **claims.released())
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def mark_sent(notice: Notice, token: str, note: str | None = None) -> bool:
    """The notice went out (or has nothing to send any more): it is due no more."""
    return _finish(notice, token, sent_at=utcnow(), due_at=None, last_error=note)


def purge_finished(before: datetime) -> int:
    """Delete notices created before ``before`` that are sent or given up; the caller commits.

    Each holds its recipient's address (encrypted): kept no longer than the
    retention period. Returns how many went.
    """
    return db.session.execute(
        delete(Notice).where(Notice.due_at.is_(None), Notice.created_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount


def mark_failed(notice: Notice, token: str, error: str, *, permanent: bool = False) -> bool:
    """Note why a notice failed and when to try again (the rule of :mod:`objectwar.outbox.retry`).

    The first retry comes ``MAIL_RETRY_SECONDS`` later and the delay doubles with
    each further attempt (CONTRACT.md); a refused recipient, or ``retry.MAX_ATTEMPTS``
    failures, end the tries.
    """
    return _finish(notice, token, last_error=error[:300],
                   due_at=retry.next_try(notice.attempts, permanent=permanent))
