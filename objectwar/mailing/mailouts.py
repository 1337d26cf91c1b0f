"""Mail-outs: composing, the audience, rendering, and the one status machine.

``draft → scheduled → sending ⇄ paused → sent / cancelled``: every change of
status goes through :func:`transition`. Delivery (``delivery.py``) creates the
recipients' rows and sends; it asks this module for the messages.

A coordinator's text is never a template: the only personalisation is the
fixed placeholders ``{{ name }}`` and ``{{ unsubscribe_url }}``, filled by plain
substitution; anything else between braces is sent as written.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formataddr, parseaddr
from typing import Any

import markdown
import nh3
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message
from markupsafe import Markup
from sqlalchemy import Select, func, select, update

from objectwar import security
from objectwar.accounts.models import User
from objectwar.audit.services import record
from objectwar.errors import Conflict, NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mail import addresses, verp
from objectwar.mail import notices as outbox
from objectwar.mail.message import RawTemplate, external_url
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing import list_texts
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Mailout,
    MailoutStatus,
    MailoutText,
    ReportKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from objectwar.security import email_digest
from objectwar.types import utcnow
from objectwar.validation import clean_name, collect, merge, validate_country, validate_locale

PLACEHOLDERS = ("name", "unsubscribe_url")
PLACEHOLDER_RE = re.compile(r"\{\{\s*(" + "|".join(PLACEHOLDERS) + r")\s*\}\}")
MAX_SUBJECT = 300
MAX_BODY = 100_000
MAX_RATE = 1_000_000


class Action:
    """What a coordinator (or the engine) does to a mail-out."""

    SCHEDULE = "schedule"
    SEND = "send"
    PAUSE = "pause"
    CANCEL = "cancel"
    FINISH = "finish"


S = MailoutStatus
# action -> (the statuses it is allowed from, the status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[MailoutStatus], MailoutStatus]] = {
    Action.SCHEDULE: (frozenset({S.DRAFT, S.SCHEDULED}), S.SCHEDULED),
    Action.SEND: (frozenset({S.DRAFT, S.SCHEDULED, S.PAUSED}), S.SENDING),
    Action.PAUSE: (frozenset({S.SENDING}), S.PAUSED),
    Action.CANCEL: (frozenset({S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED}), S.CANCELLED),
    Action.FINISH: (frozenset({S.SENDING}), S.SENT),
}


def transition(mailout_id: int, action: str, *conditions: Any, **values: Any) -> bool:
    """Move a mail-out to the status ``action`` leads to, if its current status allows
    (and ``conditions`` hold), writing ``values`` with it.

    One conditional UPDATE, so that a worker and a coordinator acting at the
    same moment cannot both win. Returns whether the status changed.
    """
    allowed, target = TRANSITIONS[action]
    result = db.session.execute(
        update(Mailout)
        .where(Mailout.id == mailout_id, Mailout.status.in_(allowed), *conditions)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def require_transition(mailout: Mailout, action: str, **values: Any) -> None:
    """:func:`transition` or :raise Conflict: the mail-out's status does not allow ``action``."""
    if not transition(mailout.id, action, **values):
        db.session.rollback()
        raise Conflict(errors={"status": [
            _("A mail-out that is %(status)s cannot be changed like this.", status=str(mailout.status))
        ]})


# -- composing -------------------------------------------------------------------


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


def reply_to_choices() -> dict[str, str]:
    """The Reply-To addresses a mail-out may have (``MAIL_FROM_CHOICES``): address → header."""
    return {parseaddr(entry)[1]: entry for entry in current_app.config["MAIL_FROM_CHOICES"]}


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
    mailout = Mailout(
        mailing_list=mailing_list,
        default_locale=cleaned["locale"],
        audience_countries=cleaned["countries"],
        audience_locales=cleaned["locales"],
        rate_per_minute=cleaned["rate_per_minute"],
        from_name=cleaned["from_name"],
        reply_to=cleaned["reply_to"],
        created_by=created_by,
        status=MailoutStatus.DRAFT,
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


# A mail-out's texts, audience and pace can change until sending starts.
EDITABLE = frozenset({MailoutStatus.DRAFT, MailoutStatus.SCHEDULED})


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
    copy = Mailout(
        list_id=original.list_id,
        default_locale=original.default_locale,
        audience_countries=list(original.audience_countries),
        audience_locales=list(original.audience_locales),
        rate_per_minute=original.rate_per_minute,
        from_name=original.from_name,
        reply_to=original.reply_to,
        created_by=created_by,
        status=MailoutStatus.DRAFT,
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


def get_mailout(mailout_id: int) -> Mailout:
    """:raise NotFound: no such mail-out."""
    mailout = db.session.get(Mailout, mailout_id)
    if mailout is None:
        raise NotFound(errors={"id": [_("There is no mail-out with this number.")]})
    return mailout


# -- the audience ------------------------------------------------------------------


def audience_query(mailout: Mailout) -> Select:
    """``SELECT subscriber_id`` of everyone subscribed to the list who matches the filter."""
    query = (
        select(Subscription.subscriber_id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.list_id == mailout.list_id,
               Subscription.status == SubscriptionStatus.SUBSCRIBED)
    )
    if mailout.audience_countries:
        query = query.where(Subscriber.country.in_(mailout.audience_countries))
    if mailout.audience_locales:
        query = query.where(Subscriber.locale.in_(mailout.audience_locales))
    return query


def count_recipients(mailout: Mailout) -> int:
    """How many people the mail-out would reach now."""
    return db.session.scalar(select(func.count()).select_from(audience_query(mailout).subquery())) or 0


# -- status changes ------------------------------------------------------------------


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


def due_scheduled() -> list[int]:
    """Ids of scheduled mail-outs whose time has come."""
    return list(db.session.scalars(
        select(Mailout.id).where(Mailout.status == MailoutStatus.SCHEDULED,
                                 Mailout.scheduled_at <= utcnow())
    ))


def pause(mailout_id: int, *, actor_id: int | None = None) -> Mailout:
    """Stop sending (workers stop within one batch); :raise Conflict: not sending."""
    mailout = get_mailout(mailout_id)
    require_transition(mailout, Action.PAUSE)
    recount(mailout_id)
    record("mailout.pause", target_type="mailout", actor_id=actor_id, mailout_id=mailout_id)
    db.session.commit()
    db.session.refresh(mailout)
    return mailout


def cancel(mailout_id: int, *, actor_id: int | None = None) -> Mailout:
    """Stop for good; deliveries not yet sent stay pending and are never sent.

    :raise Conflict: already sent or cancelled.
    """
    mailout = get_mailout(mailout_id)
    require_transition(mailout, Action.CANCEL, finished_at=utcnow())
    recount(mailout_id)
    record("mailout.cancel", target_type="mailout", actor_id=actor_id, mailout_id=mailout_id)
    db.session.commit()
    db.session.refresh(mailout)
    return mailout


def recount(mailout_id: int) -> None:
    """Set the counters from the deliveries (exact, e.g. after a worker was killed)."""
    counts = delivery_counts(mailout_id)
    reported = report_counts(mailout_id)
    db.session.execute(
        update(Mailout).where(Mailout.id == mailout_id)
        .values(sent_count=counts[DeliveryStatus.SENT], failed_count=counts[DeliveryStatus.FAILED],
                bounced_count=reported[ReportKind.HARD],
                complained_count=reported[ReportKind.COMPLAINT])
        .execution_options(synchronize_session=False)
    )


def report_counts(mailout_id: int) -> dict[ReportKind, int]:
    """Deliveries of a mail-out by the gravest report that came back for them."""
    counts = dict.fromkeys(ReportKind, 0)
    rows = db.session.execute(
        select(Delivery.reported, func.count())
        .where(Delivery.mailout_id == mailout_id, Delivery.reported.is_not(None))
        .group_by(Delivery.reported)
    )
    for kind, count in rows:
        counts[ReportKind(kind)] = count
    return counts


def delivery_counts(mailout_id: int) -> dict[DeliveryStatus, int]:
    """Deliveries of a mail-out by status (every status present, zero or more)."""
    counts = dict.fromkeys(DeliveryStatus, 0)
    rows = db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.mailout_id == mailout_id)
        .group_by(Delivery.status)
    )
    for status, count in rows:
        counts[DeliveryStatus(status)] = count
    return counts


def progress(mailout: Mailout) -> dict[str, Any]:
    """The numbers of CONTRACT.md's ``GET /api/v1/mailouts/<id>``, exact (from the rows)."""
    counts = delivery_counts(mailout.id)
    started = mailout.started_at is not None
    pending = counts[DeliveryStatus.PENDING] + counts[DeliveryStatus.SENDING]
    rate = mailout.rate_per_minute
    # Reports come in after the sending: the counters kept with them (one row, no scan).
    delivered = counts[DeliveryStatus.SENT] + counts[DeliveryStatus.FAILED]
    return {
        "id": mailout.id,
        "status": str(mailout.status),
        "recipients": sum(counts.values()) if started else mailout.recipients,
        "sent": counts[DeliveryStatus.SENT],
        "failed": counts[DeliveryStatus.FAILED],
        "pending": pending,
        "bounced": mailout.bounced_count,
        "complained": mailout.complained_count,
        "started_at": _iso(mailout.started_at),
        "finished_at": _iso(mailout.finished_at),
        "bounce_rate": _rate(mailout.bounced_count, delivered),
        "complaint_rate": _rate(mailout.complained_count, delivered),
        "skipped": counts[DeliveryStatus.SKIPPED],
        "scheduled_at": _iso(mailout.scheduled_at),
        "rate_per_minute": rate,
        "estimated_seconds_left": (
            round(pending * 60 / rate) if mailout.status == MailoutStatus.SENDING else None
        ),
        "from_name": mailout.from_name,
        "reply_to": mailout.reply_to,
    }


def _rate(count: int, delivered: int) -> float:
    """``count`` as a share of the messages handed to the relay (0 before any)."""
    return round(count / delivered, 6) if delivered else 0.0


def pause_itself(mailout_id: int, action: str, notice: NoticeKind,
                 **details: Any) -> tuple[bool, int | None]:
    """Pause a sending mail-out on the engine's own account (too many errors, bounces or
    complaints), audited as ``action``, with the email to its coordinator in the outbox.

    The caller commits, then queues the notice. Returns whether it paused (not if it
    was no longer sending) and the notice's id (``None``: nobody is to be told).
    """
    if not transition(mailout_id, Action.PAUSE):
        return False, None
    recount(mailout_id)
    record(action, target_type="mailout", mailout_id=mailout_id, **details)
    return True, pause_notice(mailout_id, notice)


def pause_notice(mailout_id: int, kind: NoticeKind = NoticeKind.MAILOUT_PAUSED) -> int | None:
    """Add the email telling the mail-out's coordinator that it paused itself to the outbox.

    The caller commits (with the pause). Returns the notice's id; ``None``
    when nobody is to be told (no coordinator, or no longer active).
    """
    mailout = db.session.get(Mailout, mailout_id)
    user = mailout.created_by if mailout else None
    if user is None or not user.active:
        return None
    notice = outbox.queue(kind, mailout_id, user.email, user.locale or "en")
    db.session.flush()
    return notice.id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- rendering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """One locale's message with placeholder markers in place of the personal values."""

    locale: str
    subject: str
    text: str
    html: str
    markers: dict[str, str]


def text_for(mailout: Mailout, locale: str) -> MailoutText:
    """The recipient's locale's text, else the default locale's."""
    by_locale = {text.locale: text for text in mailout.texts}
    return by_locale.get(locale) or by_locale.get(mailout.default_locale) or mailout.texts[0]


def markdown_to_html(source: str) -> str:
    """Markdown rendered, then cleaned by nh3 (no scripts, styles or event handlers)."""
    return nh3.clean(markdown.markdown(source, extensions=["sane_lists"], output_format="html"))


def render(mailout: Mailout, locale: str) -> Rendered:
    """Render ``locale``'s message once; personal values go in later by substitution."""
    text = text_for(mailout, locale)
    # Markers of letters and digits only pass Markdown and nh3 unchanged, and a
    # coordinator cannot guess them to smuggle something in.
    nonce = secrets.token_hex(6).upper()
    markers = {name: f"XOWPH{nonce}{name.upper().replace('_', '')}X" for name in PLACEHOLDERS}
    body = PLACEHOLDER_RE.sub(lambda match: markers[match.group(1)], text.body_markdown)
    with force_locale(text.locale):
        context = {
            "locale": text.locale,
            "list_name": list_texts.for_locale(mailout.mailing_list, text.locale).name,
            "unsubscribe_url": markers["unsubscribe_url"],
        }
        plain = render_template("emails/mailout.txt", body=body, **context)
        html = render_template("emails/mailout.html", body=Markup(markdown_to_html(body)),  # noqa: S704 (nh3-cleaned)
                               subject=text.subject, **context)
    return Rendered(text.locale, text.subject, plain, html, markers)


def sender(mailout: Mailout) -> str | tuple[str, str]:
    """The From line: the mail-out's name, if it has one, on the configured address
    (``(name, address)``, as Flask-Mail takes it)."""
    configured = current_app.config["MAIL_DEFAULT_SENDER"]
    if not mailout.from_name:
        return configured
    return mailout.from_name, parseaddr(configured)[1]


def sender_text(mailout: Mailout) -> str:
    """The From line as people read it (not encoded for a header)."""
    found = sender(mailout)
    return f"{found[0]} <{found[1]}>" if isinstance(found, tuple) else found


def reply_to(mailout: Mailout) -> str | None:
    """The Reply-To line as configured (with its name); ``None``: none, or no longer allowed."""
    if not mailout.reply_to:
        return None
    allowed = {address.lower(): entry for address, entry in reply_to_choices().items()}
    return allowed.get(mailout.reply_to.lower())


def message_template(mailout: Mailout, rendered: Rendered) -> RawTemplate:
    """The fixed part of one locale's message: headers and bodies with markers."""
    mailing_list = mailout.mailing_list
    headers = {
        "List-Id": f"{mailing_list.name} <{mailing_list.slug}.{addresses.public_host()}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
        "Precedence": "bulk",
        "Content-Language": rendered.locale,
    }
    if answer_to := reply_to(mailout):
        headers["Reply-To"] = answer_to
    from_line = sender(mailout)
    return RawTemplate(subject=rendered.subject, text=rendered.text,
                       sender=formataddr(from_line) if isinstance(from_line, tuple) else from_line,
                       html=rendered.html, headers=headers)


def message_id(mailout_id: int, delivery_id: int, *, signed: str | None = None,
               host: str | None = None) -> str:
    """The same Message-ID for every attempt at one delivery (duplicates are visible).

    Signed like the envelope sender (``objectwar.mail.verp``; ``signed`` when known already):
    a complaint that quotes only the message still names its delivery, and nobody can
    name one they did not receive.
    """
    signed = signed or verp.signature(verp.Tag(verp.Sent.MAILOUT, (mailout_id, delivery_id)))
    return f"<mailout-{mailout_id}.delivery-{delivery_id}.{signed}@{host or addresses.public_host()}>"


MESSAGE_ID = re.compile(r"<?mailout-(\d{1,18})\.delivery-(\d{1,18})\.([a-z2-7]{16})@[^>\s]+>?",
                        re.IGNORECASE)


def read_message_id(value: str) -> verp.Tag | None:
    """The delivery a Message-ID made by :func:`message_id` names; ``None``: not of that shape.

    :raise verp.NotOurs: the shape is right and the signature wrong (another installation's).
    """
    match = MESSAGE_ID.fullmatch(value.strip())
    if match is None:
        return None
    mailout_id, delivery_id, signed = match.groups()
    return verp.check(verp.Tag(verp.Sent.MAILOUT, (int(mailout_id), int(delivery_id))), signed)


# -- the coordinators' pages -----------------------------------------------------------


def recent_mailouts(limit: int = 100) -> list[Mailout]:
    """The newest mail-outs first."""
    return list(db.session.scalars(select(Mailout).order_by(Mailout.id.desc()).limit(limit)))


def allowed_actions(mailout: Mailout) -> set[str]:
    """What the mail-out's status allows: ``send``, ``resume``, ``schedule``, ``pause``, ``cancel``,
    ``edit`` (until sending starts) and ``duplicate`` (always)."""
    actions = {action for action, (allowed, _target) in TRANSITIONS.items()
               if action != Action.FINISH and mailout.status in allowed}
    actions.add("duplicate")
    if mailout.status in EDITABLE:
        actions.add("edit")
    if Action.SEND in actions and mailout.status == MailoutStatus.PAUSED:
        actions = (actions - {Action.SEND}) | {"resume"}
    return actions


def personalised(mailout: Mailout, locale: str, name: str, unsubscribe_url: str) -> Rendered:
    """``locale``'s message with the placeholders filled (HTML part values escaped)."""
    rendered = render(mailout, locale)
    values = {rendered.markers["name"]: name, rendered.markers["unsubscribe_url"]: unsubscribe_url}
    text, html = rendered.text, rendered.html
    for marker, value in values.items():
        text = text.replace(marker, value)
        html = html.replace(marker, str(Markup.escape(value)))
    return Rendered(rendered.locale, rendered.subject, text, html, {})


def preview(mailout: Mailout, locale: str) -> dict[str, Any]:
    """Subject, text and HTML of ``locale``'s message as a sample recipient gets it.

    The HTML is cleaned once more (no document, head or style), safe to show inside a page.
    """
    rendered = personalised(mailout, locale, _("Alex Example"),
                            f"{current_app.config['PUBLIC_URL'].rstrip('/')}/unsubscribe/…")
    return {"locale": rendered.locale, "subject": rendered.subject, "text": rendered.text,
            "html": Markup(nh3.clean(rendered.html, clean_content_tags={"script", "style", "title"}))}  # noqa: S704 (nh3-cleaned)


def request_test(mailout_id: int, locale: str, *, actor: User) -> Notice:
    """Add a test of ``locale``'s message, to the coordinator's own address, to the outbox.

    Committed with the audit record; the caller queues the notice's id.
    :raise ValidationError: the mail-out has no text in that locale.
    """
    mailout = get_mailout(mailout_id)
    if locale not in {text.locale for text in mailout.texts}:
        raise ValidationError(errors={"locale": [_("Choose one of the languages offered.")]})
    notice = outbox.queue(NoticeKind.MAILOUT_TEST, mailout_id, actor.email, locale)
    record("mailout.test", target_type="mailout", actor_id=actor.id, mailout_id=mailout_id,
           locale=locale)
    db.session.commit()
    return notice


def message_for_test(mailout_id: int, recipient: str, locale: str) -> Message | None:
    """The test of a mail-out in ``locale`` for the coordinator with this address.

    ``None`` when there is nothing to send any more: the mail-out is gone, or
    the address is no longer an active coordinator's.
    """
    mailout = db.session.get(Mailout, mailout_id)
    user = db.session.scalar(select(User).where(User.email_digest == email_digest(recipient)))
    if mailout is None or not mailout.texts or user is None or not user.active or not user.is_coordinator:
        return None
    with force_locale(text_for(mailout, locale).locale):
        sample_name = _("Alex Example")
        subject = _("[Test] %(subject)s", subject=text_for(mailout, locale).subject)
    rendered = personalised(mailout, locale, sample_name,
                            external_url("mailing.unsubscribe", token=sample_unsubscribe_token(mailout.list_id)))
    return Message(subject=subject, recipients=[recipient], body=rendered.text,
                   html=rendered.html, sender=sender(mailout), reply_to=reply_to(mailout))


# A test's unsubscribe link: it opens a page that says it is a sample and changes nothing.
SAMPLE_UNSUBSCRIBE_PURPOSE = "unsubscribe-sample"


def sample_unsubscribe_token(list_id: int) -> str:
    """The token of the unsubscribe link in a test of a mail-out to this list."""
    return security.make_token(SAMPLE_UNSUBSCRIBE_PURPOSE, [list_id])


def sample_list(token: str) -> MailingList | None:
    """The list of a test's sample unsubscribe link; ``None``: not such a link."""
    try:
        payload = security.read_token(SAMPLE_UNSUBSCRIBE_PURPOSE, token)
    except security.TokenError:
        return None
    if (not isinstance(payload, list) or len(payload) != 1
            or not isinstance(payload[0], int) or isinstance(payload[0], bool)):
        return None
    return db.session.get(MailingList, payload[0])
