"""Organisations: the public directory."""

from __future__ import annotations

from sqlalchemy import func, select

from objectwar.extensions import db
from objectwar.organisations.models import Organisation, OrganisationStatus


def listed_organisations(country: str | None = None, limit: int | None = None) -> list[Organisation]:
    """Members that chose to be listed, by name; ``country`` an ISO code or ``None``."""
    query = select(Organisation).where(
        Organisation.status == OrganisationStatus.MEMBER, Organisation.public.is_(True)
    )
    if country:
        query = query.where(Organisation.country == country.upper())
    query = query.order_by(Organisation.name)
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def count_listed_organisations() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Organisation).where(
            Organisation.status == OrganisationStatus.MEMBER, Organisation.public.is_(True)
        )
    ) or 0
