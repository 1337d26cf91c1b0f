"""A mail-out's reads, and the raw SQL of its hot path.

One statement per recipient, on both databases (:func:`sent_and_hold_sql`): it
marks the delivery just sent (``id``) and holds the next one (``next``): it renews
that claim, checks that the worker's token still holds it and that the mail-out
is still sending and has not been paused and resumed since the claim (``epoch``:
a claim made before a resume would burst past the restarted throttle), and reads
that recipient's subscription. With ``id`` 0 it only holds (the first recipient
of a claim, or the one after a failure). ``send.Marks`` runs it. Only enum values
are formatted in; every other value is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, func, select

from objectwar.errors import NotFound
from objectwar.extensions import db
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    Mailout,
    MailoutStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from objectwar.types import utcnow

_SENT = DeliveryStatus.SENT.value
_SENDING = DeliveryStatus.SENDING.value
_MAILOUT_SENDING = MailoutStatus.SENDING.value


def get_mailout(mailout_id: int) -> Mailout:
    """:raise NotFound: no such mail-out."""
    mailout = db.session.get(Mailout, mailout_id)
    if mailout is None:
        raise NotFound(errors={"id": [_("There is no mail-out with this number.")]})
    return mailout


def recent_mailouts(limit: int = 100) -> list[Mailout]:
    """The newest mail-outs first."""
    return list(db.session.scalars(select(Mailout).order_by(Mailout.id.desc()).limit(limit)))


def due_scheduled() -> list[int]:
    """Ids of scheduled mail-outs whose time has come."""
    return list(db.session.scalars(
        select(Mailout.id).where(Mailout.status == MailoutStatus.SCHEDULED,
                                 Mailout.scheduled_at <= utcnow())
    ))


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


# -- the hot path ------------------------------------------------------------------


def recipients(list_id: int, ids: list[int]) -> list[Any]:
    """The claimed rows with addresses and the subscription's status read now."""
    return list(db.session.execute(
        select(Delivery.id, Delivery.subscriber_id, Delivery.attempts, Subscriber.email,
               Subscriber.name, Subscriber.locale, Subscription.status)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(Subscription, and_(Subscription.subscriber_id == Delivery.subscriber_id,
                                      Subscription.list_id == list_id))
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ))



def sent_and_hold_sql(p: Callable[[str], str]) -> str:
    """The statement with the parameter ``name`` written as ``p(name)``.

    It returns one row per delivery it changed: the id, and for the next one the
    status of its subscription (``NULL`` for the one marked sent). A delivery
    missing from the answer is no longer held by the token: the one just sent
    was taken back (logged; nothing can call it back), the next must not be sent.
    """
    this = f"id = {p('id')}"
    return (
        "UPDATE deliveries SET "  # noqa: S608 (names and enum values only)
        f"status = CASE WHEN {this} THEN '{_SENT}' ELSE status END, "
        f"sent_at = CASE WHEN {this} THEN {p('now')} ELSE sent_at END, "
        f"attempts = CASE WHEN {this} THEN {p('attempts')} ELSE attempts END, "
        f"last_error = CASE WHEN {this} THEN NULL ELSE last_error END, "
        f"claim_token = CASE WHEN {this} THEN NULL ELSE claim_token END, "
        f"claimed_at = {p('now')} "
        f"WHERE id IN ({p('id')}, {p('next')}) AND status = '{_SENDING}' "
        f"AND claim_token = {p('token')} "
        f"AND ({this} OR EXISTS (SELECT 1 FROM mailouts WHERE id = {p('mailout')} "
        f"AND status = '{_MAILOUT_SENDING}' AND resumed_at = {p('epoch')})) "
        f"RETURNING id, CASE WHEN {this} THEN NULL ELSE (SELECT status FROM subscriptions "
        f"WHERE list_id = {p('list')} AND subscriber_id = {p('subscriber')}) END"
    )


PSYCOPG_SENT_AND_HOLD = sent_and_hold_sql(lambda name: f"%({name})s")
SQLALCHEMY_SENT_AND_HOLD = sent_and_hold_sql(lambda name: f":{name}")
