"""Retention: personal data nobody confirmed is deleted after ``UNCONFIRMED_TTL_DAYS``."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, select

from objectwar.extensions import db
from objectwar.mailing.models import Subscriber, Subscription, SubscriptionStatus
from objectwar.petitions.models import Signature
from objectwar.types import utcnow


def purge_unconfirmed(now: datetime | None = None) -> dict[str, int]:
    """Delete unconfirmed signatures and subscriptions older than the retention period.

    Subscribers left on no list and older than the period go too. Returns counts.
    """
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["UNCONFIRMED_TTL_DAYS"])
    signatures = db.session.execute(
        delete(Signature).where(Signature.confirmed_at.is_(None), Signature.created_at < cutoff)
    ).rowcount
    subscriptions = db.session.execute(
        delete(Subscription).where(Subscription.status == SubscriptionStatus.UNCONFIRMED,
                                   Subscription.created_at < cutoff)
    ).rowcount
    orphans = db.session.execute(
        delete(Subscriber).where(
            Subscriber.created_at < cutoff,
            ~exists(select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id)),
        ).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return {"signatures": signatures, "subscriptions": subscriptions, "subscribers": orphans}
