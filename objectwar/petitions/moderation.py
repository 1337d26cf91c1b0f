"""Moderation: a coordinator hides a public signer's name, or deletes a spam signature.

Both change what the public sees in one transaction with the counters, and
both are audited (by the signature's number, never its name). Each bumps the
petition's ``erased_count`` (the number of removals from public view), so the
petition's state is one never seen before and no web process keeps serving a
cached page or list of signers with the name in it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from objectwar.audit.services import record
from objectwar.errors import NotFound
from objectwar.extensions import db
from objectwar.petitions import counts
from objectwar.petitions.models import Petition, Signature


class Moderation(enum.StrEnum):
    HIDE = "hide"
    DELETE = "delete"


@dataclass(frozen=True)
class SignerLine:
    id: int
    name: str
    country: str
    confirmed_at: datetime


def public_signers(petition_id: int, limit: int = 50) -> list[SignerLine]:
    """The latest confirmed signers shown by name, newest first, with their full names."""
    rows = db.session.execute(
        select(Signature.id, Signature.first_name, Signature.last_name, Signature.country,
               Signature.confirmed_at)
        .where(Signature.petition_id == petition_id, Signature.confirmed_at.is_not(None),
               Signature.public_name.is_(True))
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(limit)
    )
    return [SignerLine(row.id, f"{row.first_name} {row.last_name}", row.country, row.confirmed_at)
            for row in rows]


def get_signature(petition: Petition, signature_id: int) -> Signature:
    """:raise NotFound: no such signature on this petition."""
    signature = db.session.get(Signature, signature_id)
    if signature is None or signature.petition_id != petition.id:
        raise NotFound(errors={"signature": [_("There is no such signature on this petition.")]})
    return signature


def moderate(petition: Petition, signature_id: int, action: Moderation, *,
             actor_id: int) -> None:
    """Hide the signer's name from the public, or delete the signature; audited, committed.

    :raise NotFound: no such signature on this petition.
    """
    get_signature(petition, signature_id)
    if action == Moderation.HIDE:
        changed = db.session.execute(
            update(Signature).where(Signature.id == signature_id, Signature.public_name.is_(True))
            .values(public_name=False).execution_options(synchronize_session=False)
        ).rowcount
        confirmed, country = None, None
    else:
        row = db.session.execute(
            delete(Signature).where(Signature.id == signature_id)
            .returning(Signature.confirmed_at, Signature.country)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        changed = row is not None
        confirmed, country = (row.confirmed_at, row.country) if row else (None, None)
    if not changed:  # hidden or deleted already
        db.session.rollback()
        return
    if confirmed is not None:
        counts.move_confirmed({(petition.id, country): -1}, erased=True)
    else:
        db.session.execute(update(Petition).where(Petition.id == petition.id)
                           .values(erased_count=Petition.erased_count + 1)
                           .execution_options(synchronize_session=False))
    record(f"signature.{action}", target_type="signature", actor_id=actor_id,
           target_id=signature_id, petition=petition.slug, confirmed=confirmed is not None)
    db.session.commit()
