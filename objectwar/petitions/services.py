"""Petitions: reading them in a locale. (Signing lives in ``signing.py``.)

The petition page and its API are the busiest reads of the campaign, so a
petition is read as a :class:`PublicPetition`: its texts and demands come from
a per-process cache (they change rarely; ``PETITION_CACHE_SECONDS``), its
status and confirmed count from one indexed row on every request (exact after
every confirmation; see ``state.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from objectwar.errors import NotFound
from objectwar.extensions import db
from objectwar.petitions import counts, page_cache
from objectwar.petitions.models import Demand, Petition, PetitionStatus
from objectwar.petitions.state import read_state
from objectwar.validation import is_slug


def _with_texts() -> tuple:
    """Loader options for a petition with its texts and demands (built on use, not import)."""
    return (
        selectinload(Petition.texts),
        selectinload(Petition.demands).selectinload(Demand.texts),
    )


def public_petitions(*, only_open: bool = False) -> list[Petition]:
    """Open (and, unless ``only_open``, closed) petitions, newest first; never drafts."""
    statuses = [PetitionStatus.OPEN] if only_open else [PetitionStatus.OPEN, PetitionStatus.CLOSED]
    query = (
        select(Petition)
        .where(Petition.status.in_(statuses))
        .options(*_with_texts())
        .order_by(Petition.status.desc(), Petition.created_at.desc(), Petition.id.desc())
    )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class TextView:
    locale: str
    title: str
    summary: str = ""
    body: str = ""
    text: str = ""


def _pick(texts: dict[str, TextView], locale: str, default_locale: str) -> TextView | None:
    return texts.get(locale) or texts.get(default_locale) or next(iter(texts.values()), None)


@dataclass(frozen=True)
class DemandView:
    position: int
    texts: dict[str, TextView]
    default_locale: str

    def text_for(self, locale: str) -> TextView | None:
        return _pick(self.texts, locale, self.default_locale)


@dataclass(frozen=True)
class PetitionContent:
    """What rarely changes: the texts and demands of a petition, in every locale."""

    id: int
    slug: str
    default_locale: str
    texts: dict[str, TextView]
    demands: tuple[DemandView, ...]
    loaded_at: float = 0.0  # when this process read it: part of every cache key built on it


@dataclass(frozen=True)
class PublicPetition:
    """A petition as the public sees it: cached content plus its current state."""

    content: PetitionContent
    status: PetitionStatus
    goal: int
    signature_count: int
    erased_count: int = 0

    @property
    def id(self) -> int:
        return self.content.id

    @property
    def cache_key(self) -> tuple:
        """What a page built from this petition depends on."""
        return (self.content.id, self.content.loaded_at, self.status, self.signature_count,
                self.erased_count)

    @property
    def slug(self) -> str:
        return self.content.slug

    @property
    def default_locale(self) -> str:
        return self.content.default_locale

    @property
    def demands(self) -> tuple[DemandView, ...]:
        return self.content.demands

    def text_for(self, locale: str) -> TextView | None:
        return _pick(self.content.texts, locale, self.content.default_locale)


def _load_content(petition_id: int, loaded_at: float) -> PetitionContent:
    petition = db.session.scalar(
        select(Petition).where(Petition.id == petition_id).options(*_with_texts())
    )
    return PetitionContent(
        id=petition.id,
        slug=petition.slug,
        default_locale=petition.default_locale,
        texts={t.locale: TextView(t.locale, t.title, t.summary, t.body) for t in petition.texts},
        demands=tuple(
            DemandView(
                position=demand.position,
                texts={t.locale: TextView(t.locale, t.title, text=t.text) for t in demand.texts},
                default_locale=petition.default_locale,
            )
            for demand in petition.demands
        ),
        loaded_at=loaded_at,
    )


def _content(petition_id: int) -> PetitionContent:
    """The petition's content from this process's cache, loaded when missing or old."""
    ttl = current_app.config.get("PETITION_CACHE_SECONDS", 30)
    cache: dict[int, tuple[float, PetitionContent]] = current_app.extensions.setdefault(
        "objectwar.petition_content", {}
    )
    now = time.monotonic()
    cached = cache.get(petition_id)
    if cached is None or now - cached[0] >= ttl:
        cached = (now, _load_content(petition_id, now))
        cache[petition_id] = cached
    return cached[1]


def forget_content(petition_id: int | None = None) -> None:
    """Drop cached petition content (after a coordinator edits texts or demands)."""
    cache = current_app.extensions.get("objectwar.petition_content", {})
    if petition_id is None:
        cache.clear()
    else:
        cache.pop(petition_id, None)


def get_petition(slug: str) -> Petition:
    """Any petition, drafts included (for coordinators). :raise NotFound: no such petition."""
    petition = db.session.scalar(select(Petition).where(Petition.slug == slug)) if is_slug(slug) else None
    if petition is None:
        raise NotFound(errors={"slug": [_("There is no petition at this address.")]})
    return petition


def get_public_petition(slug: str) -> PublicPetition:
    """The petition at ``slug``: one row read for its state, content from the cache.

    :raise NotFound: no such petition, or it is a draft.
    """
    if not is_slug(slug):
        raise NotFound(errors={"slug": [_("There is no petition at this address.")]})
    row = read_state(db.engine, slug, cached=current_app.config.get("PETITION_STATE_CACHE", True))
    if row is None or row[1] == PetitionStatus.DRAFT:
        raise NotFound(errors={"slug": [_("There is no petition at this address.")]})
    petition_id, status, goal, signature_count, erased_count = row
    return PublicPetition(_content(petition_id), PetitionStatus(status), goal, signature_count,
                          erased_count)


def petition_data(petition: Petition | PublicPetition, locale: str) -> dict[str, Any]:
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
        "by_country": by_country(petition),
        "demands": demands,
        "locale": text.locale if text else locale,
    }


def by_country(petition: Petition | PublicPetition) -> dict[str, int]:
    """Confirmed signatures by country as the public sees them (``counts.public_by_country``)."""
    key = petition.cache_key if isinstance(petition, PublicPetition) else (
        petition.id, petition.status, petition.signature_count, petition.erased_count)
    return counts.public_by_country(petition.id, key)


def petition_document(petition: PublicPetition, locale: str) -> bytes:
    """:func:`petition_data` as JSON bytes, built once per petition state and locale."""
    key = (*petition.cache_key, locale)
    return page_cache.document(key, lambda: json.dumps(
        petition_data(petition, locale), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8"))


def progress_percent(petition: Petition | PublicPetition) -> int:
    """Share of the goal reached, 0..100, for the progress bar."""
    if petition.goal <= 0:
        return 100
    return min(100, round(100 * petition.signature_count / petition.goal))
