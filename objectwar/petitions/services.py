"""Petitions: reading them in a locale. (Signing lives in ``signing.py``.)"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from objectwar.errors import NotFound
from objectwar.extensions import db
from objectwar.petitions.models import Demand, Petition, PetitionStatus

_WITH_TEXTS = (
    selectinload(Petition.texts),
    selectinload(Petition.demands).selectinload(Demand.texts),
)


def public_petitions(*, only_open: bool = False) -> list[Petition]:
    """Open (and, unless ``only_open``, closed) petitions, newest first; never drafts."""
    statuses = [PetitionStatus.OPEN] if only_open else [PetitionStatus.OPEN, PetitionStatus.CLOSED]
    query = (
        select(Petition)
        .where(Petition.status.in_(statuses))
        .options(*_WITH_TEXTS)
        .order_by(Petition.status.desc(), Petition.created_at.desc(), Petition.id.desc())
    )
    return list(db.session.scalars(query))


def get_public_petition(slug: str) -> Petition:
    """:raise NotFound: no such petition, or it is a draft."""
    petition = db.session.scalar(
        select(Petition).where(Petition.slug == slug).options(*_WITH_TEXTS)
    )
    if petition is None or petition.status == PetitionStatus.DRAFT:
        raise NotFound(errors={"slug": [_("There is no petition at this address.")]})
    return petition


def petition_data(petition: Petition, locale: str) -> dict[str, Any]:
    """The public JSON form of a petition in ``locale`` (CONTRACT.md)."""
    text = petition.text_for(locale)
    demands = []
    for demand in petition.demands:
        demand_text = demand.text_for(locale)
        demands.append({
            "position": demand.position,
            "title": demand_text.title if demand_text else "",
            "text": demand_text.text if demand_text else "",
        })
    return {
        "slug": petition.slug,
        "title": text.title if text else petition.slug,
        "summary": text.summary if text else "",
        "status": str(petition.status),
        "goal": petition.goal,
        "signatures": petition.signature_count,
        "demands": demands,
        "locale": text.locale if text else locale,
    }


def progress_percent(petition: Petition) -> int:
    """Share of the goal reached, 0..100, for the progress bar."""
    if petition.goal <= 0:
        return 100
    return min(100, round(100 * petition.signature_count / petition.goal))
