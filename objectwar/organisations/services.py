"""Organisations: the public directory, applications, decisions, profiles and logos."""

from __future__ import annotations

import contextlib
import enum
import io
import os
import re
import secrets
import unicodedata
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from objectwar.accounts import permissions
from objectwar.accounts import services as accounts
from objectwar.accounts.models import User
from objectwar.audit.services import changes, record
from objectwar.errors import GENERAL, Conflict, NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mail import notices as mail_notices
from objectwar.mail.message import external_url
from objectwar.mail.models import Notice, NoticeKind
from objectwar.markup import render_markdown
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions import widget
from objectwar.petitions.models import Petition, PetitionStatus, Signature
from objectwar.validation import (
    clean_name,
    clean_text,
    is_slug,
    merge,
    validate_country,
    validate_email,
    validate_url,
)


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


# -- organisations and accounts ---------------------------------------------------

# Paths under /organisations/ that are not organisations.
RESERVED_SLUGS = frozenset({"apply", "logos", "new", "admin", "api"})
MAX_LOGO_BYTES = 2 * 1024 * 1024
LOGO_MAX_SIDE = 512
LOGO_MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
LOGO_FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"),
                "WEBP": ("webp", "image/webp")}
LOGO_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|webp)$")
PROFILE_FIELDS = ("name", "country", "city", "website", "description")


class Decision(enum.StrEnum):
    """A coordinator's decision on an organisation, and the status it leads to."""

    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"


# decision -> (statuses it applies to, status after)
TRANSITIONS: dict[Decision, tuple[frozenset[OrganisationStatus], OrganisationStatus]] = {
    Decision.APPROVE: (frozenset({OrganisationStatus.APPLIED}), OrganisationStatus.MEMBER),
    Decision.REJECT: (frozenset({OrganisationStatus.APPLIED}), OrganisationStatus.REJECTED),
    Decision.SUSPEND: (frozenset({OrganisationStatus.MEMBER}), OrganisationStatus.SUSPENDED),
    Decision.REINSTATE: (frozenset({OrganisationStatus.SUSPENDED}), OrganisationStatus.MEMBER),
}


def allowed_decisions(organisation: Organisation) -> list[Decision]:
    return [d for d, (before, _after) in TRANSITIONS.items() if organisation.status in before]


def _listed_query():
    return select(Organisation).where(
        Organisation.status == OrganisationStatus.MEMBER, Organisation.public.is_(True)
    )


def directory(country: str | None = None, query: str | None = None) -> list[Organisation]:
    """Listed members by name; ``country`` an ISO code, ``query`` a part of the name."""
    statement = _listed_query()
    if country:
        code = country.strip().upper()
        # Anything but two letters matches nothing (and never reaches the database).
        statement = statement.where(Organisation.country == (code if is_slug(code.lower())
                                                            and len(code) == 2 else "--"))
    text = "".join(ch for ch in (query or "") if unicodedata.category(ch) != "Cc").strip()[:100]
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(Organisation.name.ilike(f"%{escaped}%", escape="\\"))
    return list(db.session.scalars(statement.order_by(Organisation.name, Organisation.id)))


def directory_countries() -> list[str]:
    """Countries that have at least one listed member."""
    return list(db.session.scalars(
        select(Organisation.country).where(
            Organisation.status == OrganisationStatus.MEMBER, Organisation.public.is_(True)
        ).distinct()
    ))


def get_listed(slug: str) -> Organisation:
    """:raise NotFound: no such organisation, or it is not a listed member."""
    organisation = None
    if is_slug(slug):
        organisation = db.session.scalar(_listed_query().where(Organisation.slug == slug))
    if organisation is None:
        raise NotFound(errors={"slug": [_("There is no member organisation at this address.")]})
    return organisation


def get_organisation(organisation_id: int) -> Organisation:
    """Any organisation by id (coordinator pages). :raise NotFound:"""
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound()
    return organisation


def organisations_by_status(status: OrganisationStatus | None = None) -> list[Organisation]:
    statement = select(Organisation)
    if status is not None:
        statement = statement.where(Organisation.status == status)
    return list(db.session.scalars(statement.order_by(Organisation.created_at.desc(),
                                                      Organisation.id.desc())))


def logo_url(organisation: Organisation) -> str | None:
    if not organisation.logo:
        return None
    return external_url("organisations.logo", name=organisation.logo)


def organisation_data(organisation: Organisation) -> dict[str, Any]:
    """The public JSON form of an organisation (CONTRACT.md): never contact data."""
    return {
        "slug": organisation.slug,
        "name": organisation.name,
        "country": organisation.country,
        "city": organisation.city,
        "website": organisation.website,
        "description_html": str(render_markdown(organisation.description)),
        "logo_url": logo_url(organisation),
    }


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return slug or "organisation"


def _unique_slug(name: str) -> str:
    base = slugify(name)
    taken = set(db.session.scalars(
        select(Organisation.slug).where(Organisation.slug.like(f"{base}%"))
    ))
    candidate, number = base, 1
    while candidate in taken or candidate in RESERVED_SLUGS:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _insert_with_unique_slug(organisation: Organisation, attempts: int = 5) -> None:
    """Add ``organisation`` under a free slug; two applications racing for one name both get in.

    :raise Conflict: no free slug after a few tries (only under a flood of one name).
    """
    for attempt in range(attempts):
        slug = _unique_slug(organisation.name)
        # After a collision, many racers would all pick the same next number.
        organisation.slug = slug if attempt == 0 else f"{slug}-{secrets.token_hex(3)}"
        try:
            with db.session.begin_nested():
                db.session.add(organisation)
                db.session.flush()
            return
        except IntegrityError:
            continue  # another request took this slug between our look and our insert
    raise Conflict(_("Please try again in a moment."))


def _clean_profile(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the public profile fields; :raise ValidationError: every broken rule at once."""
    cleaned: dict[str, Any] = {}
    errors = []
    rules = {
        "name": lambda v: clean_name(v, "name", max_length=200),
        "country": lambda v: validate_country(v, "country"),
        "city": lambda v: clean_name(v, "city", max_length=120) if (v or "").strip() else None,
        "website": lambda v: validate_url(v, "website"),
        "description": lambda v: clean_text(v, "description", max_length=5000),
    }
    for field, rule in rules.items():
        try:
            cleaned[field] = rule(data.get(field))
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise merge(errors)
    return cleaned


def apply(data: dict[str, Any], locale: str) -> tuple[Organisation, list[Notice]]:
    """Record an application and queue the acknowledgement and the coordinators' notices.

    :raise ValidationError: a field breaks a rule, or consent is missing.
    """
    errors = []
    try:
        cleaned = _clean_profile(data)
    except ValidationError as error:
        cleaned = {}
        errors.append(error)
    for field, rule in (
        ("contact_name", lambda v: clean_name(v, "contact_name")),
        ("contact_email", lambda v: validate_email(v, "contact_email")),
        ("reason", lambda v: clean_text(v, "reason", max_length=3000, required=True)),
    ):
        try:
            cleaned[field] = rule(data.get(field))
        except ValidationError as error:
            errors.append(error)
    if not data.get("consent"):
        errors.append(ValidationError(errors={"consent": [
            _("Please agree to the processing of these details.")
        ]}))
    if errors:
        raise merge(errors)
    organisation = Organisation(
        name=cleaned["name"], country=cleaned["country"],
        city=cleaned["city"], website=cleaned["website"], description=cleaned["description"],
        contact_name=cleaned["contact_name"], contact_email=cleaned["contact_email"],
        application_note=cleaned["reason"], contact_locale=locale,
        status=OrganisationStatus.APPLIED,
    )
    _insert_with_unique_slug(organisation)
    notices = [mail_notices.queue(NoticeKind.APPLICATION_RECEIVED, organisation.id,
                            cleaned["contact_email"], locale)]
    for coordinator in accounts.active_coordinators():
        notices.append(mail_notices.queue(NoticeKind.APPLICATION_NOTICE, organisation.id,
                                    coordinator.email, coordinator.locale or "en"))
    record("organisation.apply", organisation, target_type="organisation")
    db.session.commit()
    return organisation, notices


def decide(actor: User, organisation_id: int, decision: Decision,
           message: str | None = None) -> list[Notice]:
    """Apply a coordinator's decision; return the emails it queued.

    Approval makes the organisation a member and invites its contact; rejection
    emails the contact the coordinator's message.
    :raise Forbidden: not a coordinator. :raise Conflict: not possible in this status.
    :raise ValidationError: a rejection without a message.
    """
    permissions.require(permissions.can_manage_organisations(actor))
    organisation = get_organisation(organisation_id)
    before, after = TRANSITIONS[decision]
    if organisation.status not in before:
        raise Conflict(errors={GENERAL: [_("This organisation's status does not allow that.")]})
    notices: list[Notice] = []
    details: dict[str, Any] = {}
    if decision == Decision.REJECT:
        text = clean_text(message, "message", max_length=3000, required=True)
        details["message"] = text
        if organisation.contact_email:
            notices.append(mail_notices.queue(NoticeKind.APPLICATION_REJECTED, organisation.id,
                                        organisation.contact_email, organisation.contact_locale,
                                        message=text))
    changed = changes(organisation, {"status": after})
    if decision == Decision.APPROVE and organisation.contact_email:
        notice = accounts.invite(organisation, organisation.contact_email,
                                 organisation.contact_locale, actor)
        if notice is not None:
            notices.append(notice)
    record(f"organisation.{decision}", organisation, actor_id=actor.id,
           changes={k: [str(v[0]), str(v[1])] for k, v in changed.items()}, **details)
    db.session.commit()
    return notices


def update_profile(actor: User, organisation: Organisation, data: dict[str, Any]) -> dict[str, list]:
    """Change the public profile; return ``{field: [before, after]}`` (written to the audit log).

    :raise Forbidden: not allowed. :raise ValidationError: a field breaks a rule (nothing changes).
    """
    permissions.require(permissions.can_edit_organisation(actor, organisation), hide=True)
    cleaned = _clean_profile(data)
    changed = changes(organisation, cleaned)
    if changed:
        record("organisation.update", organisation, actor_id=actor.id, changes=changed)
    db.session.commit()
    return changed


def _logo_error(message: str) -> ValidationError:
    return ValidationError(errors={"logo": [message]})


def clean_logo(data: bytes) -> tuple[bytes, str]:
    """Decode an uploaded logo and re-encode it without metadata, at most 512 px a side.

    Returns the new file's bytes and its extension.
    :raise ValidationError: too large, not a PNG, JPEG or WebP image, or broken.
    """
    refused = _("Upload a PNG, JPEG or WebP image of at most 2 MB.")
    if not data or len(data) > MAX_LOGO_BYTES:
        raise _logo_error(refused)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in LOGO_FORMATS:
                raise _logo_error(refused)
            width, height = image.size
            if width * height > LOGO_MAX_PIXELS or width < 1 or height < 1:
                raise _logo_error(refused)
            extension = LOGO_FORMATS[image.format][0]
            image.load()
            image = ImageOps.exif_transpose(image)
            mode = "RGBA" if (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info) else "RGB"
            if extension == "jpg":
                mode = "RGB"
            image = image.convert(mode)
            image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            # A new image from the pixels alone: no text chunks, EXIF, ICC or XMP survive.
            clean = Image.frombytes(image.mode, image.size, image.tobytes())
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _logo_error(refused) from None
    output = io.BytesIO()
    if extension == "png":
        clean.save(output, format="PNG", optimize=True)
    elif extension == "jpg":
        clean.save(output, format="JPEG", quality=85)
    else:
        clean.save(output, format="WEBP", quality=85)
    return output.getvalue(), extension


def save_logo(actor: User, organisation: Organisation, data: bytes) -> str:
    """Store a cleaned logo under a random name and use it; return the name.

    :raise Forbidden: not allowed. :raise ValidationError: not an acceptable image.
    """
    permissions.require(permissions.can_edit_organisation(actor, organisation), hide=True)
    content, extension = clean_logo(data)
    folder = current_app.config["UPLOAD_DIR"]
    os.makedirs(folder, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{extension}"
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(content)
    old = organisation.logo
    changed = changes(organisation, {"logo": name})
    record("organisation.logo", organisation, actor_id=actor.id, changes=changed)
    db.session.commit()
    if old and LOGO_NAME.match(old):
        with contextlib.suppress(OSError):
            os.remove(os.path.join(folder, old))
    return name


def logo_file(name: str, viewer: Any) -> tuple[str, str]:
    """Folder and MIME type of a logo that ``viewer`` may see. :raise NotFound:"""
    if not LOGO_NAME.match(name):
        raise NotFound()
    organisation = db.session.scalar(select(Organisation).where(Organisation.logo == name))
    if organisation is None or not (organisation.is_listed
                                    or permissions.can_edit_organisation(viewer, organisation)):
        raise NotFound()
    mimetype = {ext: mime for ext, mime in LOGO_FORMATS.values()}[name.rsplit(".", 1)[1]]
    return current_app.config["UPLOAD_DIR"], mimetype


def credited_signatures(organisation: Organisation) -> list[tuple[Petition, int]]:
    """Each public petition with the confirmed signatures credited to the organisation."""
    counts = dict(db.session.execute(
        select(Signature.petition_id, func.count(Signature.id))
        .where(Signature.organisation_id == organisation.id, Signature.confirmed_at.is_not(None))
        .group_by(Signature.petition_id)
    ).all())
    petitions = db.session.scalars(
        select(Petition).where(Petition.status != PetitionStatus.DRAFT)
        .order_by(Petition.created_at.desc(), Petition.id.desc())
    )
    return [(petition, counts.get(petition.id, 0)) for petition in petitions]


def share_links(organisation: Organisation, petition: Petition) -> dict[str, str]:
    """The petition link that credits the organisation, and its widget's snippet."""
    link = external_url("petitions.detail", slug=petition.slug, org=organisation.slug)
    embed = external_url("petitions.embed", slug=petition.slug, org=organisation.slug)
    snippet = widget.snippet(petition.slug, petition.slug, organisation.slug)
    return {"link": link, "embed": embed, "snippet": snippet}
