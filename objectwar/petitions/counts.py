"""Confirmed signatures by country: kept in the confirming transaction, shown folded.

A petition's count by country is a row per (petition, country), changed in the
same transaction as the signature that moves it, and with the petition's own
``signature_count`` (:func:`move_confirmed`). The
public sees it folded (:func:`public_by_country`): a country with fewer than
``PUBLIC_COUNTRY_MINIMUM`` confirmed signatures is counted in "other", so that
a count of two from Belarus never tells anyone who may have signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from objectwar.extensions import db
from objectwar.petitions.models import CountryCount, Petition

OTHER = "other"


def move_confirmed(changes: Mapping[tuple[int, str], int], *, erased: bool = False) -> None:
    """Move confirmed counts by ``{(petition id, country): delta}``: each country's row,
    then each petition's ``signature_count``; an erasure (``erased``) also adds what
    left to ``erased_count``. The caller commits.

    The one writer of ``Petition.signature_count``, so that it always moves with the
    counts by country. Rows are taken in one order, the country rows and then the
    petitions, each sorted: two transactions never wait for each other in a circle.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    by_petition: dict[int, int] = {}
    for (petition_id, country), delta in sorted(changes.items()):
        statement = insert(CountryCount).values(petition_id=petition_id, country=country,
                                                confirmed=delta)
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["petition_id", "country"],
            set_={"confirmed": CountryCount.confirmed + statement.excluded.confirmed},
        ))
        by_petition[petition_id] = by_petition.get(petition_id, 0) + delta
    for petition_id, delta in sorted(by_petition.items()):
        values: dict[str, Any] = {"signature_count": Petition.signature_count + delta}
        if erased:
            values["erased_count"] = Petition.erased_count - delta
        db.session.execute(update(Petition).where(Petition.id == petition_id).values(**values)
                           .execution_options(synchronize_session=False))


def by_country(petition_id: int) -> list[tuple[str, int]]:
    """Every country's confirmed count, largest first (coordinators: nothing folded)."""
    rows = db.session.execute(
        select(CountryCount.country, CountryCount.confirmed)
        .where(CountryCount.petition_id == petition_id, CountryCount.confirmed > 0)
        .order_by(CountryCount.confirmed.desc(), CountryCount.country)
    )
    return [(country, confirmed) for country, confirmed in rows]


def fold(counts: Iterable[tuple[str, int]], minimum: int) -> dict[str, int]:
    """Countries with at least ``minimum``, largest first, then "other" with the rest."""
    shown: dict[str, int] = {}
    other = 0
    for country, count in sorted(counts, key=lambda item: (-item[1], item[0])):
        if count >= minimum:
            shown[country] = count
        else:
            other += count
    if other:
        shown[OTHER] = other
    return shown


def public_by_country(petition_id: int, state_key: tuple) -> dict[str, int]:
    """The folded counts of a petition, kept per process while its state is ``state_key``
    (a confirmation or an erasure changes the state, so the counts are read again)."""
    cache: dict[int, tuple[tuple, dict[str, int]]] = current_app.extensions.setdefault(
        "objectwar.country_counts", {}
    )
    cached = cache.get(petition_id)
    if cached is not None and cached[0] == state_key:
        return cached[1]
    folded = fold(by_country(petition_id), current_app.config.get("PUBLIC_COUNTRY_MINIMUM", 10))
    cache[petition_id] = (state_key, folded)
    return folded


def milestones(signature_count: int, goal: int) -> list[dict[str, int | bool]]:
    """The goal's quarters, each with whether it is reached: for the page's progress marks."""
    if goal <= 0:
        return []
    return [{"percent": quarter * 25, "at": goal * quarter // 4,
             "reached": signature_count >= goal * quarter / 4} for quarter in (1, 2, 3, 4)]
