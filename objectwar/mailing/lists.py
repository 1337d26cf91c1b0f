"""Mailing lists and their subscribers: import, unsubscribe, suppression, export.

An address that unsubscribed, bounced or complained, or whose subscription a
coordinator deleted, or whose owner asked for erasure, is never subscribed
again by an import: only its owner can come back (through the public form,
confirmed by email). The first three keep their subscription row with that
status; the others leave a :class:`Suppression` (a keyed digest, never the address).
A bounce or a complaint leaves one for every list too (``mailing.bounces``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, exists, func, or_, select, update

from objectwar import csvstream, security
from objectwar.audit.services import record
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Mailout,
    MailoutStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from objectwar.mailouts.compose import UNSUBSCRIBE_PURPOSE
from objectwar.types import day_text, utc_day, utcnow
from objectwar.validation import (
    clean_name,
    is_slug,
    validate_country,
    validate_email,
    validate_locale,
)

#: What each subscription status is called on pages (admin lists, a person's own data).
SUBSCRIPTION_LABELS = {
    SubscriptionStatus.UNCONFIRMED: _l("unconfirmed"),
    SubscriptionStatus.SUBSCRIBED: _l("subscribed"),
    SubscriptionStatus.UNSUBSCRIBED: _l("unsubscribed"),
    SubscriptionStatus.BOUNCED: _l("bounced"),
    SubscriptionStatus.COMPLAINED: _l("complained"),
}

# Statuses an import never changes: the person left, or the address does not work.
FINAL_STATUSES = frozenset({SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED,
                            SubscriptionStatus.COMPLAINED})
MAX_IMPORT = 10_000
EXPORT_COLUMNS = ("email", "name", "locale", "country", "status", "source", "consented_at",
                  "changed_at")
# A spreadsheet runs a cell that starts with one of these as a formula.


def get_list(slug: str) -> MailingList:
    """:raise NotFound: no such list."""
    mailing_list = is_slug(slug) and db.session.scalar(
        select(MailingList).where(MailingList.slug == slug))
    if not mailing_list:
        raise NotFound(errors={"slug": [_("There is no list with this name.")]})
    return mailing_list


def lists_with_counts() -> list[dict[str, Any]]:
    """Every list with the number of people subscribed (CONTRACT.md's ``GET /api/v1/lists``)."""
    counts = (
        select(Subscription.list_id, func.count().label("n"))
        .where(Subscription.status == SubscriptionStatus.SUBSCRIBED)
        .group_by(Subscription.list_id).subquery()
    )
    rows = db.session.execute(
        select(MailingList.slug, MailingList.name, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.list_id == MailingList.id)
        .order_by(MailingList.name)
    )
    return [{"slug": slug, "name": name, "subscribers": n} for slug, name, n in rows]


def growth(slug: str, days: int = 30) -> list[dict[str, Any]]:
    """People who joined the list (confirmed) per UTC day over the last ``days``, newest first."""
    since = utcnow() - timedelta(days=days)
    column = Subscription.consented_at
    day = utc_day(column)
    rows = db.session.execute(
        select(day, func.count())
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(MailingList.slug == slug, column.is_not(None), column >= since)
        .group_by(day).order_by(day.desc())
    )
    return [{"date": day_text(value), "joined": count} for value, count in rows]


# -- import ------------------------------------------------------------------------


def _clean_person(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValidationError(errors={"request": [_("Give an object.")]})
    errors: dict[str, list[str]] = {}
    person: dict[str, Any] = {}
    checks = {
        "email": lambda v: validate_email(v if isinstance(v, str) else None, "email"),
        "name": lambda v: clean_name(v, "name") if v not in (None, "") else None,
        "locale": lambda v: validate_locale(v if isinstance(v, str) else None, "locale") if v else "en",
        "country": lambda v: validate_country(v if isinstance(v, str) else None, "country") if v else None,
    }
    for field, check in checks.items():
        value = item.get(field)
        if value is not None and not isinstance(value, str):
            errors.setdefault(field, []).append(_("Give text."))
            continue
        try:
            person[field] = check(value)
        except ValidationError as error:
            for key, messages in error.errors.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors=errors)
    return person


def import_subscribers(slug: str, data: Any, *, actor_id: int | None = None,
                       source: str = "import") -> dict[str, Any]:
    """Add or update people on a list (CONTRACT.md's ``POST /api/v1/lists/<slug>/subscribers``).

    Valid rows are imported and invalid ones reported by index. ``confirmed``
    states that these people consented (recorded as the source); otherwise they
    wait unconfirmed for a confirmation email.
    :raise NotFound: no such list. :raise ValidationError: the body is not of the right shape.
    """
    mailing_list = get_list(slug)
    if not isinstance(data, dict) or not isinstance(data.get("subscribers"), list):
        raise ValidationError(errors={"subscribers": [_("Give a list of subscribers.")]})
    people = data["subscribers"]
    confirmed = data.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise ValidationError(errors={"confirmed": [_("Give true or false.")]})
    if len(people) > MAX_IMPORT:
        raise ValidationError(errors={"subscribers": [
            _("Send at most %(n)d subscribers at a time.", n=MAX_IMPORT)
        ]})
    now = utcnow()
    summary: dict[str, Any] = {"added": 0, "updated": 0, "skipped": 0, "errors": []}
    # Suppressed addresses are skipped like repeats in the file.
    seen: set[str] = suppressed_digests(mailing_list.id)
    for index, item in enumerate(people):
        try:
            person = _clean_person(item)
        except ValidationError as error:
            summary["errors"].append({"index": index, "errors": error.errors})
            continue
        digest = security.email_digest(person["email"])
        if digest in seen:
            summary["skipped"] += 1
            continue
        seen.add(digest)
        outcome = _import_one(mailing_list, person, digest, confirmed, source, now)
        summary[outcome] += 1
    record("list.import", mailing_list, actor_id=actor_id, confirmed=confirmed,
           added=summary["added"], updated=summary["updated"], skipped=summary["skipped"],
           errors=len(summary["errors"]))
    db.session.commit()
    return summary


def _import_one(mailing_list: MailingList, person: dict[str, Any], digest: str, confirmed: bool,
                source: str, now) -> str:
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_digest == digest))
    subscription = None
    if subscriber is not None:
        subscription = db.session.scalar(select(Subscription).where(
            Subscription.list_id == mailing_list.id, Subscription.subscriber_id == subscriber.id))
    if subscription is not None and subscription.status in FINAL_STATUSES:
        return "skipped"
    changed = False
    if subscriber is None:
        subscriber = Subscriber(email_digest=digest, email=person["email"], name=person["name"],
                                locale=person["locale"], country=person["country"])
        db.session.add(subscriber)
        db.session.flush()
    else:
        for field in ("name", "locale", "country"):
            if person[field] is not None and getattr(subscriber, field) != person[field]:
                setattr(subscriber, field, person[field])
                changed = True
    status = SubscriptionStatus.SUBSCRIBED if confirmed else SubscriptionStatus.UNCONFIRMED
    if subscription is None:
        db.session.add(Subscription(
            list_id=mailing_list.id, subscriber_id=subscriber.id, status=status, source=source,
            consented_at=now if confirmed else None, confirmation_due_at=None if confirmed else now,
            changed_at=now,
        ))
        return "added"
    if confirmed and subscription.status == SubscriptionStatus.UNCONFIRMED:
        subscription.status = SubscriptionStatus.SUBSCRIBED
        subscription.consented_at = now
        subscription.confirmation_due_at = None
        subscription.source = source
        subscription.changed_at = now
        changed = True
    return "updated" if changed else "skipped"


# -- suppression -----------------------------------------------------------------------


def suppressed_digests(list_id: int) -> set[str]:
    """Digests of the addresses no import may add to this list."""
    return set(db.session.scalars(select(Suppression.email_digest).where(
        or_(Suppression.list_id == list_id, Suppression.list_id.is_(None)))))


def is_suppressed(digest: Any, list_id: Any = None) -> Any:
    """SQL: the address of ``digest`` (a column) is kept off every list, or off ``list_id``."""
    scope = Suppression.list_id.is_(None)
    if list_id is not None:
        scope = or_(scope, Suppression.list_id == list_id)
    return exists().where(Suppression.email_digest == digest, scope)


def suppress(email_digest: str, reason: SuppressionReason, list_id: int | None = None) -> None:
    """Keep an address off a list (``None``: every list) for imports; the caller commits."""
    known = db.session.scalar(select(Suppression.id).where(
        Suppression.email_digest == email_digest,
        Suppression.list_id.is_(None) if list_id is None else Suppression.list_id == list_id))
    if known is None:
        db.session.add(Suppression(email_digest=email_digest, list_id=list_id, reason=reason))


def lift_suppression(email_digest: str, list_id: int) -> None:
    """The owner of the address confirmed a subscription to this list: imports may update it again.

    A bounce is lifted everywhere (the confirmation came through: the address works);
    an erasure or a complaint stays for the other lists. The caller commits.
    """
    db.session.execute(
        delete(Suppression)
        .where(Suppression.email_digest == email_digest,
               or_(Suppression.list_id == list_id,
                   and_(Suppression.list_id.is_(None),
                        Suppression.reason == SuppressionReason.BOUNCED)))
        .execution_options(synchronize_session=False)
    )


# -- unsubscribe ---------------------------------------------------------------------


def _invalid_link() -> NotFound:
    # The same answer for a forged, altered or outdated link: it tells nothing.
    return NotFound(errors={"token": [_("This unsubscribe link is not valid.")]})


def subscription_for_token(token: str) -> Subscription:
    """The subscription an unsubscribe link is for.

    :raise NotFound: the token is forged, altered, or its subscription is gone.
    """
    try:
        payload = security.read_token(UNSUBSCRIBE_PURPOSE, token)
    except security.TokenError:
        raise _invalid_link() from None
    if (not isinstance(payload, list) or len(payload) != 2
            or not all(isinstance(item, int) and not isinstance(item, bool) for item in payload)):
        raise _invalid_link()
    subscriber_id, list_id = payload
    subscription = db.session.scalar(select(Subscription).where(
        Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id))
    if subscription is None:
        raise _invalid_link()
    return subscription


def unsubscribe(token: str) -> MailingList:
    """Unsubscribe the owner of a link from its list, at once and idempotently.

    Pending deliveries of running mail-outs to this person are skipped.
    :raise NotFound: the link is not valid.
    """
    subscription = subscription_for_token(token)
    end_subscription(subscription)
    mailing_list = subscription.mailing_list
    db.session.commit()
    return mailing_list


def end_subscription(subscription: Subscription) -> None:
    """Mark a subscription unsubscribed (a final status stays) and skip its pending deliveries."""
    if subscription.status not in FINAL_STATUSES:
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        subscription.changed_at = utcnow()
        subscription.confirmation_due_at = None
    skip_pending(subscription)


def skip_pending(subscription: Subscription) -> None:
    """Pending deliveries of this list's running mail-outs to this person are not sent."""
    running = select(Mailout.id).where(
        Mailout.list_id == subscription.list_id,
        Mailout.status.in_([MailoutStatus.SENDING, MailoutStatus.PAUSED, MailoutStatus.SCHEDULED]),
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscription.subscriber_id,
               Delivery.status == DeliveryStatus.PENDING, Delivery.mailout_id.in_(running))
        .values(status=DeliveryStatus.SKIPPED)
        .execution_options(synchronize_session=False)
    )


# The subject a mail client sends to List-Unsubscribe's mailto: "unsubscribe <token>"
# (perhaps after "Re:" or "Fwd:"); tokens are URL-safe base64 with dots.
MAILTO_TOKEN = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_.\-]{16,})", re.IGNORECASE)


def token_in_message(raw: bytes) -> str | None:
    """The unsubscribe token in the Subject of an RFC 5322 message, if there is one.

    Only the subject counts: a reply quoting a mail-out holds the token of its
    footer link in the body, and must not unsubscribe anyone.
    """
    try:
        headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        subject = str(headers.get("Subject") or "")
    except Exception:  # a malformed message from anyone: nothing to do
        return None
    match = MAILTO_TOKEN.search(subject)
    return match.group(1) if match else None


def unsubscribe_by_mail(raw: bytes) -> MailingList | None:
    """Unsubscribe the owner of the token in an email sent to List-Unsubscribe's mailto.

    The same rule as the link (:func:`unsubscribe`). Returns the list, or
    ``None`` when the message holds no valid token (nothing changes).
    """
    token = token_in_message(raw)
    if token is None:
        return None
    try:
        return unsubscribe(token)
    except NotFound:
        return None


# -- export ----------------------------------------------------------------------------


def export_csv(slug: str, *, actor_id: int | None = None, chunk_rows: int = 500) -> Iterator[str]:
    """Record the export in the audit log, then stream the list as CSV, a chunk at a time.

    The rows are read from the database as they are written: the list is
    never held in memory. :raise NotFound: no such list.
    """
    mailing_list = get_list(slug)
    record("list.export", mailing_list, actor_id=actor_id)
    db.session.commit()
    list_id = mailing_list.id
    return _csv_rows(list_id, chunk_rows)


def _csv_rows(list_id: int, chunk_rows: int) -> Iterator[str]:
    query = (
        select(Subscriber.email, Subscriber.name, Subscriber.locale, Subscriber.country,
               Subscription.status, Subscription.source, Subscription.consented_at,
               Subscription.changed_at)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.list_id == list_id)
        .order_by(Subscription.id)
        .execution_options(yield_per=chunk_rows)
    )
    return csvstream.stream(query, EXPORT_COLUMNS, chunk_rows=chunk_rows)

