"""Editing a mail-out: checking a coordinator's fields, creating, updating, duplicating, scheduling.

A coordinator's text is never a template: the only personalisation is the
fixed placeholders ``{{ name }}`` and ``{{ unsubscribe_url }}`` (``compose``),
filled by plain substitution; anything else between braces is sent as written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from objectwar.accounts.models import User
from objectwar.audit.services import record
from objectwar.errors import Conflict, ValidationError
from objectwar.extensions import db
from objectwar.mailing.models import MailingList, Mailout, MailoutText
from objectwar.mailouts.compose import reply_to_choices, text_for
from objectwar.mailouts.queries import count_recipients, get_mailout
from objectwar.mailouts.status import EDITABLE, Action, new_draft, require_transition
from objectwar.types import utcnow
from objectwar.validation import clean_name, collect, merge, validate_country, validate_locale

MAX_SUBJECT = 300
MAX_BODY = 100_000
MAX_RATE = 1_000_000


def _clean_text(value: Any, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(errors={field: [_("This field is required.")]})
    if len(value) > max_length:
        raise ValidationError(errors={field: [_("Use at most %(n)d characters.", n=max_length)]})
    if "\x00" in value:
        raise ValidationError(errors={field: [_("Remove the control characters from this field.")]})
    return value.strip()


def _clean_subject(value: Any, field: str) -> str:
    subject = _clean_text(value, field, MAX_SUBJECT)
    if any(ch in subject for ch in "\r\n\x00"):
        raise ValidationError(errors={field: [_("The subject must be one line.")]})
    return subject


def _clean_codes(value: Any, field: str, check) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(errors={field: [_("Give a list of codes.")]})
    return sorted({check(item, field, exact=True) for item in value})


def _clean_locale(value: Any, field: str) -> str:
    return validate_locale(value, field, exact=True)



def _clean_from_name(value: Any, field: str) -> str | None:
    """The From line's name: optional, one line of at most 100 characters (blank ones too)."""
    if value is None or (isinstance(value, str) and not value.strip() and len(value) <= 100):
        return None
    if not isinstance(value, str):
        raise ValidationError(errors={field: [_("Give a text.")]})
    return clean_name(value, field, 100)


def _clean_reply_to(value: Any, field: str) -> str | None:
    """One of :func:`reply_to_choices`' addresses, as configured; none: no Reply-To."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    choices = {address.lower(): address for address in reply_to_choices()}
    address = parseaddr(value)[1].lower() if isinstance(value, str) else ""
    if address not in choices:
        raise ValidationError(errors={field: [
            _("Choose one of the addresses offered.") if choices
            else _("No Reply-To addresses are configured (MAIL_FROM_CHOICES).")
        ]})
    return choices[address]


def clean_mailout_data(data: Any) -> dict[str, Any]:
    """Check what a coordinator sent to create a mail-out (CONTRACT.md's fields).

    :raise ValidationError: with every field's messages at once.
    """
    if not isinstance(data, dict):
        raise ValidationError(errors={"request": [_("Send a JSON object.")]})
    errors: list[ValidationError] = []
    cleaned: dict[str, Any] = {
        "list": collect(errors, _clean_text, data.get("list"), "list", 80),
        "subject": collect(errors, _clean_subject, data.get("subject"), "subject"),
        "body_markdown": collect(errors, _clean_text, data.get("body_markdown"), "body_markdown", MAX_BODY),
        "locale": collect(errors, _clean_locale, data.get("locale", "en"), "locale"),
        "from_name": collect(errors, _clean_from_name, data.get("from_name"), "from_name"),
        "reply_to": collect(errors, _clean_reply_to, data.get("reply_to"), "reply_to"),
    }
    audience = data.get("audience")
    audience = {} if audience is None else audience
    if not isinstance(audience, dict):
        errors.append(ValidationError(errors={"audience": [_("Give an object.")]}))
        audience = {}
    cleaned["countries"] = collect(errors, _clean_codes, audience.get("country"), "audience.country", validate_country) or []
    cleaned["locales"] = collect(errors, _clean_codes, audience.get("locale"), "audience.locale", validate_locale) or []
    rate = data.get("rate_per_minute", current_app.config["MAILOUT_RATE_PER_MINUTE"])
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_RATE:
        errors.append(ValidationError(errors={"rate_per_minute": [
            _("Give a whole number from 1 to %(n)d.", n=MAX_RATE)
        ]}))
    cleaned["rate_per_minute"] = rate
    translations = data.get("translations")
    translations = {} if translations is None else translations
    cleaned["translations"] = {}
    if not isinstance(translations, dict):
        errors.append(ValidationError(errors={"translations": [_("Give an object.")]}))
        translations = {}
    for locale, text in translations.items():
        field = f"translations.{locale}"
        if collect(errors, _clean_locale, locale, field) is None:
            continue
        if not isinstance(text, dict):
            errors.append(ValidationError(errors={field: [_("Give an object.")]}))
            continue
        cleaned["translations"][locale] = (
            collect(errors, _clean_subject, text.get("subject"), f"{field}.subject"),
            collect(errors, _clean_text, text.get("body_markdown"), f"{field}.body_markdown", MAX_BODY),
        )
    if errors:
        raise merge(errors)
    return cleaned


def create_mailout(data: Any, *, created_by: User | None = None) -> Mailout:
    """Create a draft mail-out from CONTRACT.md's fields; it sends nothing yet.

    :raise ValidationError: bad fields, or no such list.
    """
    cleaned = clean_mailout_data(data)
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == cleaned["list"]))
    if mailing_list is None:
        raise ValidationError(errors={"list": [_("There is no list with this name.")]})
    mailout = new_draft(
        mailing_list=mailing_list,
        default_locale=cleaned["locale"],
        audience_countries=cleaned["countries"],
        audience_locales=cleaned["locales"],
        rate_per_minute=cleaned["rate_per_minute"],
        from_name=cleaned["from_name"],
        reply_to=cleaned["reply_to"],
        created_by=created_by,
    )
    texts = {cleaned["locale"]: (cleaned["subject"], cleaned["body_markdown"])}
    texts.update({loc: text for loc, text in cleaned["translations"].items() if loc != cleaned["locale"]})
    mailout.texts = [MailoutText(locale=loc, subject=subject, body_markdown=body)
                     for loc, (subject, body) in texts.items()]
    db.session.add(mailout)
    db.session.flush()
    mailout.recipients = count_recipients(mailout)
    record("mailout.create", mailout, actor_id=created_by.id if created_by else None)
    db.session.commit()
    return mailout


def update_mailout(mailout_id: int, data: Any, *, actor_id: int | None = None) -> Mailout:
    """Replace a draft's (or a scheduled mail-out's) list, texts, audience and pace.

    The same fields as :func:`create_mailout`; a translation left out is removed.
    :raise ValidationError: bad fields. :raise Conflict: sending has started (or ended).
    """
    mailout = get_mailout(mailout_id)
    cleaned = clean_mailout_data(data)
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == cleaned["list"]))
    if mailing_list is None:
        raise ValidationError(errors={"list": [_("There is no list with this name.")]})
    # A conditional UPDATE first: it holds the row until the commit, so a send that
    # starts meanwhile waits and then sends the new text, never a half-written one.
    changed = db.session.execute(
        update(Mailout)
        .where(Mailout.id == mailout_id, Mailout.status.in_(EDITABLE))
        .values(list_id=mailing_list.id, default_locale=cleaned["locale"],
                audience_countries=cleaned["countries"], audience_locales=cleaned["locales"],
                rate_per_minute=cleaned["rate_per_minute"],
                from_name=cleaned["from_name"], reply_to=cleaned["reply_to"])
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not changed:
        db.session.rollback()
        raise Conflict(errors={"status": [
            _("A mail-out that is %(status)s cannot be changed like this.", status=str(mailout.status))
        ]})
    db.session.refresh(mailout)
    wanted = {cleaned["locale"]: (cleaned["subject"], cleaned["body_markdown"])}
    wanted.update({loc: text for loc, text in cleaned["translations"].items() if loc != cleaned["locale"]})
    kept = {text.locale: text for text in mailout.texts}
    for locale, text in kept.items():
        if locale not in wanted:
            mailout.texts.remove(text)
    for locale, (subject, body) in wanted.items():
        if locale in kept:
            kept[locale].subject, kept[locale].body_markdown = subject, body
        else:
            mailout.texts.append(MailoutText(locale=locale, subject=subject, body_markdown=body))
    db.session.flush()
    mailout.recipients = count_recipients(mailout)
    record("mailout.update", mailout, actor_id=actor_id, locales=sorted(wanted))
    db.session.commit()
    return mailout


def duplicate(mailout_id: int, *, created_by: User | None = None) -> Mailout:
    """A new draft with the texts, list, audience and pace of any mail-out (a sent one too)."""
    original = get_mailout(mailout_id)
    copy = new_draft(
        list_id=original.list_id,
        default_locale=original.default_locale,
        audience_countries=list(original.audience_countries),
        audience_locales=list(original.audience_locales),
        rate_per_minute=original.rate_per_minute,
        from_name=original.from_name,
        reply_to=original.reply_to,
        created_by=created_by,
        texts=[MailoutText(locale=text.locale, subject=text.subject, body_markdown=text.body_markdown)
               for text in original.texts],
    )
    db.session.add(copy)
    db.session.flush()
    copy.recipients = count_recipients(copy)
    record("mailout.duplicate", copy, actor_id=created_by.id if created_by else None,
           original_id=mailout_id)
    db.session.commit()
    return copy


def form_data(mailout: Mailout) -> dict[str, Any]:
    """A mail-out as the fields of :func:`create_mailout` (to fill the edit form)."""
    default = text_for(mailout, mailout.default_locale)
    return {
        "list": mailout.mailing_list.slug, "locale": mailout.default_locale,
        "subject": default.subject, "body_markdown": default.body_markdown,
        "translations": {text.locale: {"subject": text.subject, "body_markdown": text.body_markdown}
                         for text in mailout.texts if text.locale != mailout.default_locale},
        "audience": {"country": list(mailout.audience_countries),
                     "locale": list(mailout.audience_locales)},
        "rate_per_minute": mailout.rate_per_minute,
        "from_name": mailout.from_name or "",
        "reply_to": mailout.reply_to or "",
    }


def parse_moment(value: Any, field: str = "scheduled_at") -> datetime:
    """An ISO 8601 time with its zone; :raise ValidationError: anything else."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        if moment is not None and moment.tzinfo is not None:
            moment = moment.astimezone(UTC)  # overflows for times at the very end of year 9999
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationError(errors={field: [
            _("Give a time with its zone, e.g. 2026-12-01T09:00:00+00:00.")
        ]})
    return moment


def schedule(mailout_id: int, when: datetime, *, actor_id: int | None = None) -> Mailout:
    """Send the mail-out at ``when`` (a periodic task starts it).

    :raise ValidationError: ``when`` is naive or in the past. :raise Conflict: wrong status.
    """
    mailout = get_mailout(mailout_id)
    if when.tzinfo is None or when <= utcnow():
        raise ValidationError(errors={"scheduled_at": [_("Choose a time in the future.")]})
    require_transition(mailout, Action.SCHEDULE, scheduled_at=when)
    record("mailout.schedule", target_type="mailout", actor_id=actor_id, mailout_id=mailout_id,
           scheduled_at=when.isoformat())
    db.session.commit()
    db.session.refresh(mailout)
    return mailout
