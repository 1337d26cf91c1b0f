"""The outbox of one-off emails (notices): queueing, claiming, sending and marking.

A notice is a row naming its kind, the row it is about and its recipient. The
domain that queues a kind registers, with :func:`composes`, the function that
builds its message when it is sent (``None``: there is nothing to send any more);
this module sends it by the core's rules and imports no domain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import delete, select, update

from objectwar.extensions import db
from objectwar.mail import claims, retry, verp
from objectwar.mail import message as mailer
from objectwar.mail.models import Notice, NoticeKind
from objectwar.types import utcnow

Composer = Callable[[Notice], Message | None]
_COMPOSERS: dict[NoticeKind, Composer] = {}


def composes(*kinds: NoticeKind) -> Callable[[Composer], Composer]:
    """Register the decorated function as the composer of these kinds of notices."""
    def register(composer: Composer) -> Composer:
        for kind in kinds:
            _COMPOSERS[kind] = composer
        return composer
    return register


def compose(notice: Notice) -> Message | None:
    """The notice's email, or ``None`` when there is nothing to send any more.

    :raise LookupError: no domain registered a composer for its kind.
    """
    try:
        composer = _COMPOSERS[notice.kind]
    except KeyError:
        raise LookupError(f"No composer is registered for notices of kind {notice.kind}") from None
    return composer(notice)


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
    """Take a due notice for this worker (``mail.claims``): the notice and the claim's token;
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
    """The notice went out (or has nothing to send any more): it is due no more. A
    database away for a while is waited for (``claims.persist``): no second sending."""
    sent_at = utcnow()
    return claims.persist(lambda: _finish(notice, token, sent_at=sent_at, due_at=None, last_error=note))


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
    """Note why a notice failed and when to try again (the rule of :mod:`objectwar.mail.retry`).

    The first retry comes ``MAIL_RETRY_SECONDS`` later and the delay doubles with
    each further attempt (CONTRACT.md); a refused recipient, or ``retry.MAX_ATTEMPTS``
    failures, end the tries.
    """
    return _finish(notice, token, last_error=error[:300],
                   due_at=retry.next_try(notice.attempts, permanent=permanent))


def deliver(notice_id: int) -> bool:
    """Claim, compose, send and mark one notice; ``True`` if it was sent now.

    A failure leaves it due (by the retry rule): the periodic task tries again.
    """
    found = claim(notice_id)
    if found is None:
        return False
    notice, token = found
    try:
        message = compose(notice)
        if message is None:
            mark_sent(notice, token, note="skipped: nothing to send any more")
            return False
        if not claims.hold(Notice, notice_id, token):  # taken back: another worker sends it
            return False
        mailer.send(message, sent_as=verp.Tag(verp.Sent.NOTICE, (notice_id,)))
    except mailer.SendError as error:
        current_app.logger.warning("Notice %s not sent: %s", notice_id, error)
        mark_failed(notice, token, str(error), permanent=error.permanent)
        return False
    except Exception:  # a message that cannot be built: counted, and given up like any other
        current_app.logger.exception("Notice %s could not be composed", notice_id)
        mark_failed(notice, token, "could not be composed")
        return False
    mark_sent(notice, token)
    return True


def deliver_due(older_than_seconds: int = 60) -> int:
    """Send every notice due for longer than ``older_than_seconds``; return how many went out."""
    return sum(deliver(notice_id) for notice_id in due_ids(older_than_seconds))
