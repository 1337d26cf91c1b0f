"""The admin's petition editor: its HTML form, to and from CONTRACT.md's petition object.

The form shows the default locale and, beside it, one other locale (``column``).
Its fields are named as the errors of :func:`authoring.clean` are (``slug``,
``texts.de.title``, ``demands.2.texts.en.text``, ...), so every message lands at
its field. Demands are rows with a position (to reorder them), a box to remove
them, and the id of the demand they edit, so that the texts of the locales not
on screen go along unchanged. Without JavaScript, "Add a demand" is a button
that shows the form again with one more empty row.

The rules are all in ``authoring``; this module only moves values around.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from objectwar.petitions.models import Petition, PetitionStatus
from objectwar.petitions.services import DemandView, PetitionContent, PublicPetition, TextView

TEXT_FIELDS = ("title", "summary", "body_markdown")
DEMAND_FIELDS = ("title", "text")
MAX_ROWS = 40  # demand rows read from one form (authoring allows 20 demands)


@dataclass
class DemandRow:
    id: int | None
    texts: dict[str, dict[str, str]]  # locale -> {"title", "text"}
    remove: bool = False


@dataclass
class Draft:
    """The editor's values, as text, in every locale (those off screen included)."""

    slug: str = ""
    goal: str = "10000"
    default_locale: str = "en"
    opens_at: str = ""
    closes_at: str = ""
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    demands: list[DemandRow] = field(default_factory=list)

    def text(self, locale: str, name: str) -> str:
        return self.texts.get(locale, {}).get(name, "")


def _moment_text(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else ""


def from_petition(petition: Petition | None, default_locale: str = "en") -> Draft:
    """The saved petition as the editor shows it (an empty draft for a new one)."""
    if petition is None:
        return Draft(default_locale=default_locale, demands=[DemandRow(None, {})])
    return Draft(
        slug=petition.slug, goal=str(petition.goal), default_locale=petition.default_locale,
        opens_at=_moment_text(petition.opens_at), closes_at=_moment_text(petition.closes_at),
        texts={t.locale: {"title": t.title, "summary": t.summary, "body_markdown": t.body}
               for t in petition.texts},
        demands=[DemandRow(d.id, {t.locale: {"title": t.title, "text": t.text} for t in d.texts})
                 for d in petition.demands],
    )


def _given(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").replace("\r\n", "\n")


def from_form(form: Mapping[str, str], petition: Petition | None, locales: list[str]) -> Draft:
    """The editor's values after a submission: the saved petition with the form's fields
    over it, for the ``locales`` on screen. Rows marked for removal and new rows left
    empty are dropped; the rest are ordered by their position (ties keep their order)."""
    draft = from_petition(petition)
    draft.demands = []
    for name in ("slug", "goal", "opens_at", "closes_at"):
        setattr(draft, name, _given(form, name).strip())
    if petition is None or "default_locale" in form:
        draft.default_locale = _given(form, "default_locale").strip()
    for locale in locales:
        values = {name: _given(form, f"texts.{locale}.{name}") for name in TEXT_FIELDS}
        if locale in draft.texts or any(value.strip() for value in values.values()):
            draft.texts[locale] = values
    saved = {row.id: row.texts for row in from_petition(petition).demands} if petition else {}
    rows = []
    for index in range(MAX_ROWS):
        prefix = f"demands.{index}"
        if f"{prefix}.position" not in form:
            continue
        demand_id = _int(form.get(f"{prefix}.id"))
        texts = {locale: dict(text) for locale, text in saved.get(demand_id, {}).items()}
        for locale in locales:
            values = {name: _given(form, f"{prefix}.texts.{locale}.{name}") for name in DEMAND_FIELDS}
            if locale in texts or any(value.strip() for value in values.values()):
                texts[locale] = values
        if form.get(f"{prefix}.remove") or (demand_id not in saved and not texts):
            continue
        rows.append((_position(form.get(f"{prefix}.position"), index), index,
                     DemandRow(demand_id if demand_id in saved else None, texts)))
    draft.demands = [row for _, _, row in sorted(rows, key=lambda item: item[:2])]
    return draft


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def _position(value: str | None, index: int) -> float:
    try:
        return float(value or "")
    except ValueError:
        return index + 1


def to_data(draft: Draft, locales: list[str]) -> dict:
    """CONTRACT.md's petition object from the draft: every field, the texts on screen."""
    goal = draft.goal.replace(" ", "").replace(",", "").replace(".", "")
    return {
        "slug": draft.slug,
        "goal": int(goal) if goal.isdigit() and len(goal) < 12 else draft.goal,
        "default_locale": draft.default_locale,
        "opens_at": draft.opens_at or None,
        "closes_at": draft.closes_at or None,
        "texts": {locale: text for locale, text in draft.texts.items() if locale in locales},
        "demands": [{"texts": row.texts} for row in draft.demands],
    }


def preview(draft: Draft, petition: Petition | None) -> PublicPetition:
    """The draft as the public page shows it, with the petition's current counts.

    A draft petition is shown open: as the public will see it once it opens.
    """
    content = PetitionContent(
        id=petition.id if petition else 0, slug=draft.slug, default_locale=draft.default_locale,
        texts={locale: TextView(locale, t["title"], t["summary"], t["body_markdown"])
               for locale, t in draft.texts.items() if t["title"].strip()},
        demands=tuple(
            DemandView(position, {locale: TextView(locale, t["title"], text=t["text"])
                                  for locale, t in row.texts.items() if t["title"].strip()},
                       draft.default_locale)
            for position, row in enumerate(draft.demands, start=1)),
    )
    status = (PetitionStatus.OPEN if petition is None or petition.status == PetitionStatus.DRAFT
              else petition.status)
    return PublicPetition(content, status, int(to_data(draft, [])["goal"]),
                          petition.signature_count if petition else 0,
                          petition.erased_count if petition else 0)
