"""What a bounce or a complaint does to an address, a delivery and a mail-out: the rules.

Used by the command that reads the reports arriving after the relay's 250
(``mailing.reports``) and by the worker, when the relay refuses a recipient with
a 5xx (``mailouts.send``). They run on the connection they are given (the
worker's autocommit one, or the session's) and each change is one conditional
statement: a report handled twice, or two at once, changes nothing more.

* An address **bounced** (a hard bounce, or ``SOFT_LIMIT`` soft bounces in a
  row): each of its subscriptions still subscribed or unconfirmed becomes
  ``bounced``.
* An address **complained** (a spam report): the subscription of the list it
  complained about becomes ``complained``, and every other one still active
  ``unsubscribed``, at once.
* Both skip the address's pending deliveries of running mail-outs and suppress
  its digest on every list (a ``Suppression`` without list): no import adds it
  again, and no reminder to confirm goes to it. Only the person's own confirmed
  opt-in brings them back to a list (``suppression.lift_suppression``).
* Soft bounces (4.x.x) only count. "In a row" runs over the address's sent
  deliveries in the order they were made: ``SOFT_LIMIT`` consecutive ones
  reported soft (or worse) and the address bounced; one that no report came
  back for breaks the run. A report that arrives late counts where its delivery
  stands, so the order reports arrive in does not matter.
* A mail-out counts its deliveries that bounced and that were reported as spam;
  after its first ``PAUSE_MINIMUM`` messages it pauses itself when more than
  ``COMPLAINT_PAUSE`` of them were reported as spam or more than
  ``MAILOUT_BOUNCE_PAUSE`` bounced (:func:`pause_reason`).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import exists, insert, literal, null, or_, select, update

from objectwar.mailing import subscriptions
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    Mailout,
    MailoutStatus,
    ReportKind,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionReason,
)
from objectwar.types import UTCDateTime, utcnow

SOFT_LIMIT = 3  # soft bounces in a row that make an address bounced
PAUSE_MINIMUM = 200  # messages a mail-out sends before its rates can pause it
COMPLAINT_PAUSE = 0.003  # spam reports per message that pause a mail-out
BOUNCE_PAUSE = 0.05  # hard bounces per message that pause it (MAILOUT_BOUNCE_PAUSE)

# Graver reports replace milder ones, never the other way round.
RANK = {ReportKind.SOFT: 1, ReportKind.HARD: 2, ReportKind.COMPLAINT: 3}
# The mail-out's counter each kind of report moves (soft bounces only count per address).
COUNTERS = {ReportKind.HARD: "bounced_count", ReportKind.COMPLAINT: "complained_count"}
RUNNING = (MailoutStatus.SENDING, MailoutStatus.PAUSED, MailoutStatus.SCHEDULED)

_deliveries = Delivery.__table__
_mailouts = Mailout.__table__
_subscribers = Subscriber.__table__
_suppressions = Suppression.__table__


def report_delivery(conn: Any, delivery_id: int, mailout_id: int, kind: ReportKind) -> bool:
    """Record ``kind`` on a delivery unless it already has that or a graver report, and
    move the mail-out's counters with it. Returns whether anything changed."""
    milder: list[ReportKind | None] = [None]
    milder += [other for other in ReportKind if RANK[other] < RANK[kind]]
    for before in milder:  # the previous value decides the counters: one guarded UPDATE each
        was = (_deliveries.c.reported.is_(None) if before is None
               else _deliveries.c.reported == before)
        changed = conn.execute(
            update(_deliveries).where(_deliveries.c.id == delivery_id, was).values(reported=kind)
        ).rowcount
        if changed:
            counters: dict[str, Any] = {}
            if kind in COUNTERS:
                counters[COUNTERS[kind]] = _mailouts.c[COUNTERS[kind]] + 1
            if before in COUNTERS:
                counters[COUNTERS[before]] = _mailouts.c[COUNTERS[before]] - 1
            if counters:
                conn.execute(update(_mailouts).where(_mailouts.c.id == mailout_id).values(**counters))
            return True
    return False


def soft_run(conn: Any, subscriber_id: int, delivery_id: int) -> int:
    """How many of the address's last ``SOFT_LIMIT`` sent deliveries, up to this one, were
    reported, counted from the newest until one was not."""
    reported = conn.execute(
        select(_deliveries.c.reported)
        .where(_deliveries.c.subscriber_id == subscriber_id, _deliveries.c.id <= delivery_id,
               or_(_deliveries.c.status == DeliveryStatus.SENT, _deliveries.c.id == delivery_id))
        .order_by(_deliveries.c.id.desc()).limit(SOFT_LIMIT)
    ).scalars().all()
    run = 0
    for kind in reported:
        if kind is None:
            break
        run += 1
    return run


def address_bounced(conn: Any, *, subscriber_id: int | None, digest: str | None = None) -> bool:
    """The address does not work: its active subscriptions become ``bounced``, its pending
    deliveries are skipped and it is suppressed. Returns whether anything changed.

    Give the subscriber, or (for an address that may have none) its digest.
    """
    changed = False
    if subscriber_id is not None:
        changed = bool(subscriptions.transition(
            subscriptions.Action.BOUNCE, Subscription.subscriber_id == subscriber_id, conn=conn))
        _skip_pending(conn, subscriber_id)
    suppressed = _suppress(conn, SuppressionReason.BOUNCED, subscriber_id=subscriber_id,
                           digest=digest)
    return changed or suppressed


def address_complained(conn: Any, *, subscriber_id: int | None, list_id: int | None,
                       digest: str | None = None) -> bool:
    """The address's owner reported our email as spam: ``complained`` on that list, unsubscribed
    from every other at once, pending deliveries skipped, suppressed. Returns whether
    anything changed."""
    changed = 0
    if subscriber_id is not None:
        now = utcnow()
        if list_id is not None:
            changed += subscriptions.transition(
                subscriptions.Action.COMPLAIN, Subscription.subscriber_id == subscriber_id,
                Subscription.list_id == list_id, conn=conn, changed_at=now)
        changed += subscriptions.transition(
            subscriptions.Action.UNSUBSCRIBE, Subscription.subscriber_id == subscriber_id, conn=conn,
            changed_at=now)
        _skip_pending(conn, subscriber_id)
    suppressed = _suppress(conn, SuppressionReason.COMPLAINED, subscriber_id=subscriber_id,
                           digest=digest)
    return bool(changed) or suppressed


def _skip_pending(conn: Any, subscriber_id: int) -> None:
    """The address's pending deliveries of running mail-outs are not sent."""
    running = select(_mailouts.c.id).where(_mailouts.c.status.in_(RUNNING))
    conn.execute(
        update(_deliveries)
        .where(_deliveries.c.subscriber_id == subscriber_id,
               _deliveries.c.status == DeliveryStatus.PENDING,
               _deliveries.c.mailout_id.in_(running))
        .values(status=DeliveryStatus.SKIPPED)
    )


def _suppress(conn: Any, reason: SuppressionReason, *, subscriber_id: int | None,
              digest: str | None) -> bool:
    """Keep the address off every list for imports, unless it already is (one INSERT ... SELECT).

    Returns whether it was not yet."""
    if subscriber_id is not None:
        source = select(_subscribers.c.email_digest).where(_subscribers.c.id == subscriber_id)
        digest_column = _subscribers.c.email_digest
    elif digest is not None:
        source = select(literal(digest))
        digest_column = literal(digest)
    else:
        return False
    known = exists().where(_suppressions.c.email_digest == digest_column,
                           _suppressions.c.list_id.is_(None))
    rows = source.add_columns(null(), literal(reason.value),
                              literal(utcnow(), UTCDateTime())).where(~known)
    # RETURNING: the rowcount of an INSERT ... SELECT is not reported by every driver.
    return bool(conn.execute(insert(_suppressions).from_select(
        ["email_digest", "list_id", "reason", "created_at"], rows).returning(_suppressions.c.id)
    ).all())


def bounce_limit() -> float:
    """``MAILOUT_BOUNCE_PAUSE``: the share of hard bounces that pauses a mail-out."""
    return float(current_app.config.get("MAILOUT_BOUNCE_PAUSE", BOUNCE_PAUSE))


def pause_limits() -> dict[str, float]:
    """The limits of :func:`pause_reason`, for the coordinators' page."""
    return {"minimum": PAUSE_MINIMUM, "complaints": COMPLAINT_PAUSE, "bounces": bounce_limit()}


def pause_reason(delivered: int, bounced: int, complained: int) -> str | None:
    """``"complaints"`` or ``"bounces"`` when a mail-out's rates should pause it, else ``None``.

    ``delivered``: the messages handed to the relay (sent or refused).
    """
    if delivered < PAUSE_MINIMUM:
        return None
    if complained > COMPLAINT_PAUSE * delivered:
        return "complaints"
    if bounced > bounce_limit() * delivered:
        return "bounces"
    return None
