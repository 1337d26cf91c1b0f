"""Mailing lists: subscribing people who gave their consent (double opt-in)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from objectwar import security
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.i18n import LANGUAGE_NAMES
from objectwar.mail import message as mailer
from objectwar.mail import rows, verp
from objectwar.mailing import list_texts, subscriptions, suppression
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from objectwar.types import utcnow
from objectwar.validation import clean_name, merge, validate_email, validate_locale

# Statuses a fresh, confirmed opt-in does not override: the address bounced or
# its owner reported us as spam.
_FINAL = (SubscriptionStatus.BOUNCED, SubscriptionStatus.COMPLAINED)


def subscribe_confirmed(list_slug: str, *, email: str, name: str | None, locale: str,
                        country: str | None, source: str, consented_at: datetime) -> Subscription:
    """Subscribe an address whose owner confirmed by email (double opt-in done elsewhere).

    Adds to the session without committing: the caller's transaction decides.
    :raise NotFound: no such list.
    """
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == list_slug))
    if mailing_list is None:
        raise NotFound()
    subscriber = _subscriber(email, name=name, locale=locale, country=country)
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.list_id == mailing_list.id,
                                   Subscription.subscriber_id == subscriber.id)
    )
    now = utcnow()
    if subscription is None:
        subscription = subscriptions.create(
            subscriptions.Action.CONFIRM, list_id=mailing_list.id, subscriber_id=subscriber.id,
            source=source, consented_at=consented_at, changed_at=now,
        )
        suppression.lift_suppression(subscriber.email_digest, mailing_list.id)
    elif subscriptions.change(subscription, subscriptions.Action.CONFIRM, source=source,
                              consented_at=consented_at, changed_at=now):
        suppression.lift_suppression(subscriber.email_digest, mailing_list.id)
    db.session.flush()
    return subscription


def _subscriber(email: str, *, name: str | None, locale: str, country: str | None) -> Subscriber:
    """The subscriber with this address, created if new (safe against a concurrent insert)."""
    digest = security.email_digest(email)
    found = db.session.scalar(select(Subscriber).where(Subscriber.email_digest == digest))
    if found is not None:
        return found
    subscriber = Subscriber(email_digest=digest, email=email, name=name, locale=locale,
                            country=country)
    try:
        with db.session.begin_nested():
            db.session.add(subscriber)
    except IntegrityError:
        found = db.session.scalar(select(Subscriber).where(Subscriber.email_digest == digest))
        if found is None:  # pragma: no cover - the violation needs a row
            raise
        return found
    return subscriber


# -- the public subscribe form: double opt-in ------------------------------------
#
# Like a signature: the subscription row is the outbox (``confirmation_due_at``).
# The view commits the row through :func:`request_subscription`, then enqueues
# :func:`send_subscription_confirmation` by id; a periodic task sends whatever is
# still due. The answer is the same whether or not the address is known, and a
# stranger's request changes nothing about an existing subscriber (name, locale
# and status change only when the owner of the address confirms).

SUBSCRIBE_PURPOSE = "confirm-subscription"
FORM_SOURCE = "form"
# A few confirmation emails per address and day at most: one per list every
# RESEND_GAP, and emails for at most MAX_LISTS_PER_DAY lists a day.
RESEND_GAP = timedelta(hours=8)
MAX_LISTS_PER_DAY = 3
DEFAULT_SUBSCRIBE_SUBJECT = "Please confirm your subscription"
_TRUE = frozenset({"y", "yes", "on", "1", "true"})


@dataclass(frozen=True)
class SubscribeInput:
    """What a visitor gave on the subscribe form, validated."""

    email: str
    name: str | None
    locale: str


def public_list(slug: str) -> MailingList:
    """A list visitors may subscribe to. :raise NotFound: no such public list."""
    mailing_list = db.session.scalar(
        select(MailingList).where(MailingList.slug == slug, MailingList.public.is_(True)))
    if mailing_list is None:
        raise NotFound()
    return mailing_list


def parse_subscribe(data: Mapping[str, Any], *, default_locale: str) -> SubscribeInput:
    """Validate the subscribe form. :raise ValidationError: every field error at once."""
    errors: list[ValidationError] = []

    def attempt(rule, *args: Any) -> Any:
        try:
            return rule(*args)
        except ValidationError as error:
            errors.append(error)
            return None

    email = attempt(validate_email, data.get("email"), "email")
    raw_name = (data.get("name") or "").strip()
    name = attempt(clean_name, raw_name, "name") if raw_name else None
    locale = attempt(validate_locale, data.get("locale") or default_locale, "locale")
    if str(data.get("consent") or "").strip().lower() not in _TRUE:
        errors.append(ValidationError(errors={"consent": [
            _("Please agree to how we use your address; we cannot send you anything without it.")
        ]}))
    if errors:
        raise merge(errors)
    return SubscribeInput(email=email, name=name, locale=locale)


def request_subscription(slug: str, data: Mapping[str, Any], *, default_locale: str) -> int | None:
    """Record a visitor's wish to subscribe and mark its confirmation email as due.

    Returns the id of the subscription whose email the caller should enqueue
    (``None`` when no email goes out: the address bounced or complained).
    :raise NotFound: no such public list. :raise ValidationError: invalid input.
    """
    mailing_list = public_list(slug)
    given = parse_subscribe(data, default_locale=default_locale)
    subscriber = _subscriber(given.email, name=given.name, locale=given.locale, country=None)
    subscription = db.session.scalar(select(Subscription).where(
        Subscription.list_id == mailing_list.id, Subscription.subscriber_id == subscriber.id))
    now = utcnow()
    if subscription is None:
        subscription = subscriptions.create(subscriptions.Action.REQUEST, list_id=mailing_list.id,
                                            subscriber_id=subscriber.id, source=FORM_SOURCE,
                                            confirmation_due_at=now, changed_at=now)
    elif subscription.status in _FINAL:
        db.session.rollback()
        return None
    elif subscription.confirmation_due_at is None:
        subscription.confirmation_due_at = now
        subscription.confirmation_failures = 0
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent request for this address stored the row first; its email goes out.
        db.session.rollback()
        return None
    return subscription.id


def _over_limit(subscription: Subscription, now: datetime) -> bool:
    """Whether another confirmation email to this address would be one too many today."""
    sent = subscription.confirmation_sent_at
    if sent is not None and sent > now - RESEND_GAP:
        return True
    lists_today = db.session.scalar(select(func.count()).select_from(Subscription).where(
        Subscription.subscriber_id == subscription.subscriber_id,
        Subscription.confirmation_sent_at > now - timedelta(days=1)))
    return lists_today >= MAX_LISTS_PER_DAY


def send_subscription_confirmation(subscription_id: int) -> bool:
    """Send the due confirmation email of one subscription if this runner claims it.

    A subscribed person gets "you are already subscribed"; anyone else a link.
    Over the per-address limit the email is dropped, not postponed; a failed
    send is retried after ``MAIL_RETRY_SECONDS``, doubling with each further
    failure, and given up like a notice (``mail.rows``). Returns whether it was sent.
    """
    now = utcnow()
    token = rows.claim_due(Subscription, subscription_id, now=now)
    if token is None:
        return False
    subscription = db.session.get(Subscription, subscription_id)
    if (subscription is None or subscription.status in _FINAL
            or _over_limit(subscription, now)):
        rows.set_due(Subscription, subscription_id, None, token)
        return False
    if not rows.send(Subscription, subscription_id, token,
                     lambda: _subscription_message(subscription),
                     sent_as=verp.Tag(verp.Sent.SUBSCRIPTION, (subscription_id,))):
        return False
    rows.mark_sent(Subscription, subscription_id, token, utcnow())
    return True


def remind_unconfirmed(now: datetime | None = None) -> list[int]:
    """Make the one reminder due on subscriptions still unconfirmed
    ``CONFIRMATION_REMINDER_HOURS`` after their last email (0: never), except to suppressed
    addresses (the send keeps to the day's limit). Returns the ids to queue."""
    hours = current_app.config.get("CONFIRMATION_REMINDER_HOURS", 24)
    if not hours:
        return []
    digest = select(Subscriber.email_digest).where(
        Subscriber.id == Subscription.subscriber_id).scalar_subquery()
    return rows.remind(Subscription, Subscription.status == SubscriptionStatus.UNCONFIRMED,
                       ~suppression.is_suppressed(digest, Subscription.list_id),
                       after=timedelta(hours=hours), now=now)


def overdue_subscription_confirmations(older_than: timedelta = timedelta(minutes=1),
                                       limit: int = 500) -> list[int]:
    """Ids of subscriptions whose confirmation email has been due for over ``older_than``."""
    return rows.overdue_ids(Subscription, older_than, limit)


def subscribe_subject() -> Any:
    """The neutral subject of the email, translated when it is the default one."""
    return mailer.configured_text("SUBSCRIBE_SUBJECT", DEFAULT_SUBSCRIBE_SUBJECT,
                                  _l("Please confirm your subscription"))


def _subscription_message(subscription: Subscription):
    subscriber = subscription.subscriber
    mailing_list = subscription.mailing_list
    already = subscription.status == SubscriptionStatus.SUBSCRIBED
    confirm_url = None if already else mailer.external_url(
        "mailing.confirm_subscription", slug=mailing_list.slug,
        token=subscription_token(subscription))
    shown = list_texts.for_locale(mailing_list, subscriber.locale)
    return mailer.compose(
        "confirm_subscription", to=subscriber.email, locale=subscriber.locale,
        subject=subscribe_subject(), sender=mailer.confirmation_sender(), name=subscriber.name,
        list_name=shown.name, already=already, confirm_url=confirm_url,
        list_language=LANGUAGE_NAMES[shown.locale] if shown.fallback else None,
        reminder=not already and rows.is_reminder(subscription),
        ttl_days=current_app.config["UNCONFIRMED_TTL_DAYS"],
    )


def subscription_token(subscription: Subscription) -> str:
    # The digest prefix binds the link to this address even if an id is ever reused; the
    # state stamp to the subscription as it was when asked for: any change of status since
    # (a confirmation, an unsubscribe, a bounce, a complaint) makes the link stale.
    return security.make_token(SUBSCRIBE_PURPOSE, [
        subscription.id, subscription.list_id, subscription.subscriber.email_digest[:16],
        _state_stamp(subscription)])


def _state_stamp(subscription: Subscription) -> int:
    """The subscription's last change of status, in milliseconds (what its links are bound to)."""
    return int(subscription.changed_at.timestamp() * 1000)


def _link_is_current(payload: list, subscription: Subscription) -> bool:
    """Whether a link may still change the subscription: made since its last change of status.

    A subscriber already subscribed changes nothing by it. Links from before the stamp
    existed (three items) count only while the subscription was never confirmed.
    """
    if subscription.status in _FINAL:
        return False
    if subscription.status == SubscriptionStatus.SUBSCRIBED:
        return True
    if len(payload) == 3:
        return subscription.status == SubscriptionStatus.UNCONFIRMED
    return payload[3] == _state_stamp(subscription)


def _bad_link() -> NotFound:
    return NotFound(errors={"token": [_(
        "This confirmation link is not valid or has expired. Please subscribe again to get a new link."
    )]})


def subscription_for_confirmation(slug: str, token: str) -> Subscription:
    """The subscription a confirmation link belongs to (reading only).

    :raise NotFound: forged, altered or expired link, or the subscription is gone.
    """
    max_age = current_app.config["UNCONFIRMED_TTL_DAYS"] * 24 * 3600
    try:
        payload = security.read_token(SUBSCRIBE_PURPOSE, token, max_age=max_age)
    except security.TokenError:
        raise _bad_link() from None
    if (not isinstance(payload, list) or len(payload) not in (3, 4)
            or not isinstance(payload[0], int) or isinstance(payload[0], bool)):
        raise _bad_link()
    subscription_id, list_id, digest_prefix = payload[:3]
    subscription = db.session.get(Subscription, subscription_id)
    if (subscription is None or subscription.list_id != list_id
            or subscription.mailing_list.slug != slug
            or subscription.subscriber.email_digest[:16] != digest_prefix
            or not _link_is_current(payload, subscription)):
        raise _bad_link()
    return subscription


def confirm_subscription(slug: str, token: str) -> Subscription:
    """Confirm a subscription, idempotently: the owner of the address consented now.

    Someone who had unsubscribed, or whose subscription a coordinator deleted,
    comes back by their own action (source ``form``; the suppression is lifted):
    only with the link of a request made after that; an older link, and any link
    of an address that bounced or complained, is refused.
    :raise NotFound: a bad link.
    """
    subscription = subscription_for_confirmation(slug, token)
    if subscription.status != SubscriptionStatus.SUBSCRIBED:
        now = utcnow()
        source = {} if subscription.status == SubscriptionStatus.UNCONFIRMED else {"source": FORM_SOURCE}
        if not subscriptions.change(subscription, subscriptions.Action.CONFIRM, consented_at=now,
                                    changed_at=now, **source):
            # Its status changed since the link was read: a second click confirmed it (the
            # same answer), or it bounced or was unsubscribed meanwhile (the link is stale).
            db.session.rollback()
            if subscription.status != SubscriptionStatus.SUBSCRIBED:
                raise _bad_link()
            return subscription
        suppression.lift_suppression(subscription.subscriber.email_digest, subscription.list_id)
        db.session.commit()
    return subscription
