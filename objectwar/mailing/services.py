"""Mailing lists: subscribing people who gave their consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from objectwar import security
from objectwar.errors import NotFound
from objectwar.extensions import db
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from objectwar.types import utcnow

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
        subscription = Subscription(
            list_id=mailing_list.id, subscriber_id=subscriber.id, source=source,
            status=SubscriptionStatus.SUBSCRIBED, consented_at=consented_at, changed_at=now,
        )
        db.session.add(subscription)
    elif subscription.status not in _FINAL and subscription.status != SubscriptionStatus.SUBSCRIBED:
        subscription.status = SubscriptionStatus.SUBSCRIBED
        subscription.source = source
        subscription.consented_at = consented_at
        subscription.confirmation_due_at = None
        subscription.changed_at = now
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
