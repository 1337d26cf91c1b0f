"""A petition's statistics for coordinators: every figure computed in SQL, nothing folded.

Confirmed counts come from the counters the confirming transactions keep
(``signature_count``, ``counts``); the rest are GROUP BYs over indexed columns
of ``signatures``. Days are UTC days.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from objectwar.extensions import db
from objectwar.organisations.models import Organisation
from objectwar.petitions import counts
from objectwar.petitions.models import Petition, Signature


def _utc_day(column: Any) -> Any:
    """SQL: the UTC day of a timestamp column, as ``YYYY-MM-DD`` text or a date."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text: its first ten characters are the day


def _per_day(column: Any, petition_id: int) -> dict[str, int]:
    day = _utc_day(column)
    rows = db.session.execute(
        select(day, func.count()).where(Signature.petition_id == petition_id, column.is_not(None))
        .group_by(day)
    )
    return {str(value) if not isinstance(value, date) else value.isoformat(): count
            for value, count in rows}


def by_day(petition_id: int) -> list[dict[str, Any]]:
    """Signatures made and confirmed per UTC day, oldest first (days with neither left out)."""
    signed = _per_day(Signature.created_at, petition_id)
    confirmed = _per_day(Signature.confirmed_at, petition_id)
    return [{"date": day, "signed": signed.get(day, 0), "confirmed": confirmed.get(day, 0)}
            for day in sorted(signed.keys() | confirmed.keys())]


def by_organisation(petition_id: int) -> dict[str, int]:
    """Confirmed signatures credited to each partner organisation (by slug), largest first."""
    rows = db.session.execute(
        select(Organisation.slug, func.count())
        .join(Signature, Signature.organisation_id == Organisation.id)
        .where(Signature.petition_id == petition_id, Signature.confirmed_at.is_not(None))
        .group_by(Organisation.slug)
        .order_by(func.count().desc(), Organisation.slug)
    )
    return {slug: count for slug, count in rows}


def petition_stats(petition: Petition) -> dict[str, Any]:
    """CONTRACT.md's ``GET /api/v1/petitions/<slug>/stats``, plus the confirmation rate."""
    unconfirmed = db.session.scalar(
        select(func.count()).select_from(Signature)
        .where(Signature.petition_id == petition.id, Signature.confirmed_at.is_(None))
    )
    confirmed = petition.signature_count
    made = confirmed + unconfirmed
    return {
        "confirmed": confirmed,
        "unconfirmed": unconfirmed,
        "confirmation_rate": round(confirmed / made, 4) if made else None,
        "by_day": by_day(petition.id),
        "by_country": dict(counts.by_country(petition.id)),
        "by_organisation": by_organisation(petition.id),
    }
