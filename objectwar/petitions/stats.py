"""A petition's statistics for coordinators: every figure computed in SQL, nothing folded.

Confirmed counts come from the counters the confirming transactions keep
(``signature_count``, ``counts``); the rest are GROUP BYs over indexed columns
of ``signatures``. Days are UTC days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pygal
import pygal.style
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from objectwar.extensions import db
from objectwar.organisations.models import Organisation
from objectwar.petitions import counts
from objectwar.petitions.models import Petition, Signature
from objectwar.types import day_text, utc_day


def _per_day(column: Any, petition_id: int, organisation_id: int | None) -> dict[str, int]:
    day = utc_day(column)
    credited = [Signature.organisation_id == organisation_id] if organisation_id else []
    rows = db.session.execute(
        select(day, func.count()).where(Signature.petition_id == petition_id, column.is_not(None),
                                        *credited)
        .group_by(day)
    )
    return {day_text(value): count for value, count in rows}


def by_day(petition_id: int, organisation_id: int | None = None) -> list[dict[str, Any]]:
    """Signatures made and confirmed per UTC day, oldest first (days with neither left out);
    with ``organisation_id``, only those credited to that partner."""
    signed = _per_day(Signature.created_at, petition_id, organisation_id)
    confirmed = _per_day(Signature.confirmed_at, petition_id, organisation_id)
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


def organisation_names(slugs: Iterable[str]) -> dict[str, str]:
    """The names of the organisations with these slugs (for the tables by partner)."""
    slugs = list(slugs)
    if not slugs:
        return {}
    return dict(db.session.execute(
        select(Organisation.slug, Organisation.name).where(Organisation.slug.in_(slugs))).all())


def partner_by_country(petition_id: int, organisation_id: int) -> dict[str, int]:
    """A partner's confirmed signatures by country, folded as for the public (a partner
    must not learn that two people from Belarus signed through it)."""
    rows = db.session.execute(
        select(Signature.country, func.count())
        .where(Signature.petition_id == petition_id, Signature.organisation_id == organisation_id,
               Signature.confirmed_at.is_not(None))
        .group_by(Signature.country)
    )
    return counts.fold(rows, current_app.config.get("PUBLIC_COUNTRY_MINIMUM", 10))


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


# -- for the admin pages --------------------------------------------------------------


@dataclass(frozen=True)
class PetitionLine:
    """One petition in the coordinators' list."""

    slug: str
    title: str
    status: str
    goal: int
    confirmed: int
    unconfirmed: int


def overview() -> list[PetitionLine]:
    """Every petition (drafts too), newest first, with its confirmed and unconfirmed counts."""
    unconfirmed = dict(db.session.execute(
        select(Signature.petition_id, func.count()).where(Signature.confirmed_at.is_(None))
        .group_by(Signature.petition_id)).all())
    petitions = db.session.scalars(
        select(Petition).options(selectinload(Petition.texts))
        .order_by(Petition.created_at.desc(), Petition.id.desc()))
    lines = []
    for petition in petitions:
        text = petition.text_for(petition.default_locale)
        lines.append(PetitionLine(petition.slug, text.title if text else petition.slug,
                                  str(petition.status), petition.goal, petition.signature_count,
                                  unconfirmed.get(petition.id, 0)))
    return lines


def day_chart(days: list[dict[str, Any]], *, title: str, labels: tuple[str, str]) -> str:
    """Signatures made and confirmed per day as a standalone SVG document.

    Drawn by pygal on the server; its script (tooltips, loaded from another host
    by default) is left out: the chart needs none, and nothing may load from elsewhere.
    """
    chart = pygal.Bar(js=[], width=900, height=360, title=title, x_label_rotation=40,
                      show_minor_x_labels=False, legend_at_bottom=True, truncate_label=-1,
                      style=pygal.style.DefaultStyle(font_family="system-ui, sans-serif"))
    chart.x_labels = [day["date"] for day in days]
    chart.x_labels_major = [day["date"] for day in days[::max(1, len(days) // 10)]]
    chart.add(labels[0], [day["signed"] for day in days])
    chart.add(labels[1], [day["confirmed"] for day in days])
    return _SCRIPT.sub("", chart.render(is_unicode=True))


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
