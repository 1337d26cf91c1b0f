"""Suppression: addresses no import may subscribe again, known only by a keyed digest.

Written when a coordinator deletes a subscription, when the owner of the address
asks for erasure (``privacy``), and on every list when it bounced or complained
(``mailing.bounces``); only the owner's own confirmed opt-in lifts it (``subscribe``).
No reminder to confirm goes to a suppressed address.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, exists, or_, select

from objectwar.extensions import db
from objectwar.mailing.models import Suppression, SuppressionReason


def suppressed_digests(list_id: int) -> set[str]:
    """Digests of the addresses no import may add to this list."""
    return set(db.session.scalars(select(Suppression.email_digest).where(
        or_(Suppression.list_id == list_id, Suppression.list_id.is_(None)))))


def is_suppressed(digest: Any, list_id: Any = None) -> Any:
    """SQL: the address of ``digest`` (a column) is kept off every list, or off ``list_id``."""
    scope = Suppression.list_id.is_(None)
    if list_id is not None:
        scope = or_(scope, Suppression.list_id == list_id)
    return exists().where(Suppression.email_digest == digest, scope)


def suppress(email_digest: str, reason: SuppressionReason, list_id: int | None = None) -> None:
    """Keep an address off a list (``None``: every list) for imports; the caller commits."""
    known = db.session.scalar(select(Suppression.id).where(
        Suppression.email_digest == email_digest,
        Suppression.list_id.is_(None) if list_id is None else Suppression.list_id == list_id))
    if known is None:
        db.session.add(Suppression(email_digest=email_digest, list_id=list_id, reason=reason))


def lift_suppression(email_digest: str, list_id: int) -> None:
    """The owner of the address confirmed a subscription to this list: imports may update it again.

    A bounce is lifted everywhere (the confirmation came through: the address works);
    an erasure or a complaint stays for the other lists. The caller commits.
    """
    db.session.execute(
        delete(Suppression)
        .where(Suppression.email_digest == email_digest,
               or_(Suppression.list_id == list_id,
                   and_(Suppression.list_id.is_(None),
                        Suppression.reason == SuppressionReason.BOUNCED)))
        .execution_options(synchronize_session=False)
    )
