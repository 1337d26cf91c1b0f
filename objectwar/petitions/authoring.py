"""Writing petitions: creating and changing them, and the one status machine.

``draft → open → closed`` and ``closed → open``: every change of status goes
through :func:`change_status` (a conditional UPDATE, audited), whether a
coordinator asks for it or the clock does (:func:`open_and_close_due`: an
opening date that has come opens a draft, a closing date closes it).

The input is CONTRACT.md's petition object; one set of rules serves the API and
the admin: :func:`clean` reports every field's problems at once and stores nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from objectwar.audit.services import record
from objectwar.errors import ValidationError
from objectwar.extensions import db
from objectwar.petitions.models import Demand, DemandText, Petition, PetitionStatus, PetitionText
from objectwar.petitions.services import forget_content
from objectwar.types import utcnow
from objectwar.validation import clean_name, clean_text, collect, is_slug, merge, validate_locale

S = PetitionStatus
# status -> the statuses it may become
TRANSITIONS: dict[PetitionStatus, frozenset[PetitionStatus]] = {
    S.DRAFT: frozenset({S.OPEN}),
    S.OPEN: frozenset({S.CLOSED}),
    S.CLOSED: frozenset({S.OPEN}),
}
MAX_GOAL = 100_000_000
MAX_TITLE = 300
MAX_SUMMARY = 2_000
MAX_BODY = 50_000
MAX_DEMANDS = 20
RESERVED_SLUGS = frozenset({"new"})  # /admin/petitions/new


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(errors={field: [message]})


# -- the rules of the input ----------------------------------------------------------


def _slug(value: Any, current: Petition | None) -> str:
    if not is_slug(value):
        raise _fail("slug", _("Use up to 80 lowercase letters, digits and hyphens, starting with a letter or digit."))
    if value in RESERVED_SLUGS:
        raise _fail("slug", _("This address is reserved; choose another."))
    if current is not None and value != current.slug and current.status != S.DRAFT:
        raise _fail("slug", _("The address of a published petition cannot change: links to it "
                              "are out there."))
    taken = db.session.scalar(select(Petition.id).where(Petition.slug == value))
    if taken is not None and (current is None or taken != current.id):
        raise _fail("slug", _("Another petition has this address."))
    return value


def _goal(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GOAL:
        raise _fail("goal", _("Give a whole number from 1 to %(n)d.", n=MAX_GOAL))
    return value


def _moment(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise _fail(field, _("Give a date and time as YYYY-MM-DDTHH:MM (UTC unless a zone is given)."))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _exact_locale(value: Any, field: str) -> str:
    return validate_locale(value, field, exact=True)


def _texts(value: Any, field: str, clean_one) -> dict[str, Any]:
    """``{locale: {...}}`` with each locale checked and each text cleaned by ``clean_one``."""
    if not isinstance(value, dict):
        raise _fail(field, _("Give an object with one entry per language."))
    errors: list[ValidationError] = []
    cleaned = {}
    for locale, text in value.items():
        where = f"{field}.{locale}"
        if collect(errors, _exact_locale, locale, where) is None:
            continue
        if not isinstance(text, dict):
            errors.append(_fail(where, _("Give an object.")))
            continue
        cleaned[locale] = clean_one(text, where, errors)
    if errors:
        raise merge(errors)
    return cleaned


def _petition_text(text: dict, where: str, errors: list[ValidationError]) -> dict[str, str]:
    return {
        "title": collect(errors, clean_name, text.get("title"), f"{where}.title", MAX_TITLE),
        "summary": collect(errors, clean_text, text.get("summary"), f"{where}.summary",
                           MAX_SUMMARY) or "",
        "body": collect(errors, clean_text, text.get("body_markdown"), f"{where}.body_markdown",
                        MAX_BODY) or "",
    }


def _demand_text(text: dict, where: str, errors: list[ValidationError]) -> dict[str, str]:
    return {
        "title": collect(errors, clean_name, text.get("title"), f"{where}.title", MAX_TITLE),
        "text": collect(errors, clean_text, text.get("text"), f"{where}.text", MAX_SUMMARY) or "",
    }


def _demands(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_DEMANDS:
        raise _fail("demands", _("Give a list of at most %(n)d demands.", n=MAX_DEMANDS))
    errors: list[ValidationError] = []
    cleaned = []
    for index, demand in enumerate(value):
        where = f"demands.{index}.texts"
        texts = demand.get("texts") if isinstance(demand, dict) else None
        cleaned.append(collect(errors, _texts, texts, where, _demand_text) or {})
    if errors:
        raise merge(errors)
    return cleaned


def clean(data: Any, current: Petition | None = None) -> dict[str, Any]:
    """The fields given, checked: all of them to create (``current`` is ``None``), any to change.

    :raise ValidationError: every field's messages at once.
    """
    if not isinstance(data, dict):
        raise _fail("request", _("Send a JSON object."))
    creating = current is None
    errors: list[ValidationError] = []
    cleaned: dict[str, Any] = {}
    if creating or "slug" in data:
        cleaned["slug"] = collect(errors, _slug, data.get("slug"), current)
    if creating or "goal" in data:
        cleaned["goal"] = collect(errors, _goal, data.get("goal", 10_000))
    if creating or "default_locale" in data:
        cleaned["default_locale"] = collect(errors, _exact_locale,
                                            data.get("default_locale", "en"), "default_locale")
    for field in ("opens_at", "closes_at"):
        if field in data:
            cleaned[field] = collect(errors, _moment, data[field], field)
    if "status" in data or creating:
        status = data.get("status", PetitionStatus.DRAFT.value if creating else None)
        allowed = ({PetitionStatus.DRAFT.value, PetitionStatus.OPEN.value} if creating
                   else {s.value for s in PetitionStatus})
        if not isinstance(status, str) or status not in allowed:
            errors.append(_fail("status", _("Choose one of: %(choices)s.",
                                            choices=", ".join(sorted(allowed)))))
        else:
            cleaned["status"] = PetitionStatus(status)
    if creating or "texts" in data:
        cleaned["texts"] = collect(errors, _texts, data.get("texts"), "texts", _petition_text)
    if "demands" in data:
        cleaned["demands"] = collect(errors, _demands, data["demands"])
    if errors:
        raise merge(errors)
    _check_whole(cleaned, current)
    return cleaned


def _check_whole(cleaned: dict[str, Any], current: Petition | None) -> None:
    """Rules across fields, on the petition as it would be after the change."""
    errors: dict[str, list[str]] = {}
    default = cleaned.get("default_locale") or current.default_locale  # type: ignore[union-attr]
    titles = {locale for locale, text in (cleaned.get("texts") or {}).items() if text["title"]}
    if current is not None:
        titles |= {text.locale for text in current.texts}
    if default not in titles:
        errors[f"texts.{default}.title"] = [_("Give a title in the default language.")]
    for index, texts in enumerate(cleaned.get("demands") or []):
        if default not in texts:
            errors[f"demands.{index}.texts.{default}.title"] = [
                _("Give every demand a title in the default language.")]
    opens = cleaned.get("opens_at", current.opens_at if current else None)
    closes = cleaned.get("closes_at", current.closes_at if current else None)
    if opens and closes and closes <= opens:
        errors["closes_at"] = [_("The closing date must come after the opening date.")]
    if errors:
        raise ValidationError(errors=errors)


# -- storing --------------------------------------------------------------------------


def create_petition(data: Any, *, actor_id: int | None) -> Petition:
    """A new petition from CONTRACT.md's fields; audited. :raise ValidationError: nothing stored."""
    cleaned = clean(data)
    petition = Petition(slug=cleaned["slug"], goal=cleaned["goal"],
                        default_locale=cleaned["default_locale"], status=S.DRAFT,
                        opens_at=cleaned.get("opens_at"), closes_at=cleaned.get("closes_at"))
    db.session.add(petition)
    _set_texts(petition, cleaned["texts"])
    _set_demands(petition, cleaned.get("demands") or [])
    db.session.flush()
    record("petition.create", petition, actor_id=actor_id, slug=petition.slug)
    if cleaned["status"] == S.OPEN:
        change_status(petition.id, S.OPEN, actor_id=actor_id, commit=False)
    db.session.commit()
    db.session.refresh(petition)
    return petition


def update_petition(petition: Petition, data: Any, *, actor_id: int | None,
                    confirm_current: Iterable[str] = ()) -> Petition:
    """Change any of the fields; a status goes through :func:`change_status`. Audited.

    ``confirm_current``: locales whose translations a coordinator checked and found
    still current (:func:`confirm_translations`), after the change.

    :raise ValidationError: a bad field or a status the petition cannot take; nothing changes.
    """
    cleaned = clean(data, petition)
    target = cleaned.pop("status", None)
    if target is not None and target != petition.status and target not in TRANSITIONS[petition.status]:
        raise _fail("status", _("A petition that is %(status)s cannot become %(target)s.",
                                status=str(petition.status), target=str(target)))
    changed = []
    for field in ("slug", "goal", "default_locale", "opens_at", "closes_at"):
        if field in cleaned and getattr(petition, field) != cleaned[field]:
            setattr(petition, field, cleaned[field])
            changed.append(field)
    if "texts" in cleaned:
        _set_texts(petition, cleaned["texts"])
        changed.append("texts")
    if "demands" in cleaned:
        _set_demands(petition, cleaned["demands"])
        changed.append("demands")
    if changed:
        record("petition.update", petition, actor_id=actor_id, fields=changed)
    if confirmed := confirm_translations(petition, list(confirm_current)):
        record("petition.translations_confirmed", petition, actor_id=actor_id, locales=confirmed)
    if target is not None and target != petition.status:
        change_status(petition.id, target, actor_id=actor_id, commit=False)
    db.session.commit()
    forget_content(petition.id)
    db.session.refresh(petition)
    return petition


def _set_texts(petition: Petition, texts: dict[str, dict[str, str]]) -> None:
    """Replace the texts of the locales given; other locales stay.

    A text's ``changed_at`` moves only when its words do: saving a whole form
    whose German is unchanged does not make the German newer than the English.
    """
    by_locale = {text.locale: text for text in petition.texts}
    now = utcnow()
    for locale, text in texts.items():
        row = by_locale.get(locale)
        if row is None:
            petition.texts.append(PetitionText(locale=locale, changed_at=now, **text))
        elif (row.title, row.summary, row.body) != (text["title"], text["summary"], text["body"]):
            row.title, row.summary, row.body = text["title"], text["summary"], text["body"]
            row.changed_at = now


def _set_demands(petition: Petition, demands: list[dict[str, dict[str, str]]]) -> None:
    """Replace the demands, numbered from 1 in the order given.

    A demand text whose words were there before (in any position: demands are
    reordered) keeps its ``changed_at``; new words are changed now.
    """
    before = {(text.locale, text.title, text.text): text.changed_at
              for demand in petition.demands for text in demand.texts}
    now = utcnow()
    petition.demands.clear()
    db.session.flush()  # the old rows go before new ones take their positions
    petition.demands.extend(
        Demand(position=position, texts=[
            DemandText(locale=locale, changed_at=before.get((locale, text["title"], text["text"]), now),
                       **text)
            for locale, text in texts.items()])
        for position, texts in enumerate(demands, start=1))


def confirm_translations(petition: Petition, locales: list[str]) -> list[str]:
    """Mark the translations in ``locales`` as current, as if written now (a translator
    checked them against the changed default text). Returns the locales changed."""
    now = utcnow()
    touched = []
    for locale in locales:
        if locale == petition.default_locale:
            continue
        rows = [t for t in petition.texts if t.locale == locale]
        rows += [t for demand in petition.demands for t in demand.texts if t.locale == locale]
        for row in rows:
            row.changed_at = now
        if rows:
            touched.append(locale)
    return touched


class Translation(enum.StrEnum):
    DEFAULT = "default"
    CURRENT = "current"
    OUTDATED = "outdated"  # the default text changed after this one was written
    MISSING = "missing"  # no text, or a demand without its text, in this locale


def translations(petition: Petition, locales: Iterable[str]) -> dict[str, Translation]:
    """Each locale's state against the default one: the petition's text and every demand's."""
    default = petition.default_locale
    pairs = [{t.locale: t for t in petition.texts}]
    pairs += [{t.locale: t for t in demand.texts} for demand in petition.demands]
    states = {}
    for locale in locales:
        if locale == default:
            states[locale] = Translation.DEFAULT
        elif any(locale not in texts for texts in pairs if default in texts):
            states[locale] = Translation.MISSING
        elif any(texts[locale].changed_at < texts[default].changed_at
                 for texts in pairs if default in texts):
            states[locale] = Translation.OUTDATED
        else:
            states[locale] = Translation.CURRENT
    return states


# -- the status machine ---------------------------------------------------------------


def change_status(petition_id: int, target: PetitionStatus, *, actor_id: int | None,
                  commit: bool = True) -> bool:
    """Move a petition to ``target`` if its status allows; audited. Returns whether it moved.

    One conditional UPDATE: a coordinator and the clock acting at once cannot both win.
    """
    allowed_from = [status for status, targets in TRANSITIONS.items() if target in targets]
    before = db.session.scalar(select(Petition.status).where(Petition.id == petition_id))
    moved = db.session.execute(
        update(Petition).where(Petition.id == petition_id, Petition.status.in_(allowed_from))
        .values(status=target).execution_options(synchronize_session=False)
    ).rowcount == 1
    if moved:
        record("petition.status", target_type="petition", target_id=petition_id,
               actor_id=actor_id, before=str(before), after=str(target))
    if commit:
        db.session.commit()
    return moved


def open_and_close_due(now: datetime | None = None) -> dict[str, list[int]]:
    """Open drafts whose opening date has come; close open petitions whose closing date has."""
    now = now or utcnow()
    due_open = list(db.session.scalars(select(Petition.id).where(
        Petition.status == S.DRAFT, Petition.opens_at.is_not(None), Petition.opens_at <= now,
        (Petition.closes_at.is_(None)) | (Petition.closes_at > now))))
    due_close = list(db.session.scalars(select(Petition.id).where(
        Petition.status == S.OPEN, Petition.closes_at.is_not(None), Petition.closes_at <= now)))
    opened = [pid for pid in due_open if change_status(pid, S.OPEN, actor_id=None)]
    closed = [pid for pid in due_close if change_status(pid, S.CLOSED, actor_id=None)]
    return {"opened": opened, "closed": closed}


def translation_gaps(locales: Iterable[str]) -> dict[str, list[tuple[str, Translation]]]:
    """Per petition slug, the locales whose translation is missing or outdated."""
    petitions = db.session.scalars(select(Petition).options(
        selectinload(Petition.texts), selectinload(Petition.demands).selectinload(Demand.texts)))
    locales = list(locales)
    return {petition.slug: [(locale, state) for locale, state in translations(petition, locales).items()
                            if state in (Translation.MISSING, Translation.OUTDATED)]
            for petition in petitions}
