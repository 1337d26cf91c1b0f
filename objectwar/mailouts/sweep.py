"""Starting and finishing a mail-out's sending, and the periodic sweep that keeps it going.

:func:`start_sending` creates every recipient's ``Delivery`` in ONE ``INSERT ...
SELECT`` (``ON CONFLICT DO NOTHING``, so a repeat adds no one). Chains of
``deliver_batch`` tasks can be lost with a killed worker: the periodic
:func:`sweep` re-queues sending mail-outs nobody claimed from or sent for
``SWEEP_IDLE_SECONDS`` that still have due rows, and finishes those with nothing left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from objectwar.audit.services import record
from objectwar.errors import Conflict
from objectwar.extensions import db
from objectwar.mail import claims
from objectwar.mailing.models import Delivery, DeliveryStatus, Mailout, MailoutStatus, Subscription
from objectwar.mailouts.claiming import begin_write
from objectwar.mailouts.queries import audience_query, due_scheduled, get_mailout
from objectwar.mailouts.status import Action, recount, require_transition, transition
from objectwar.types import UTCDateTime, utcnow

SWEEP_IDLE_SECONDS = 30  # a sending mail-out nobody claimed for this long is re-queued


def start_sending(mailout_id: int, *, actor_id: int | None = None) -> Mailout:
    """Start (or resume) sending; the caller queues ``deliver_batch`` afterwards.

    The first start creates the deliveries of everyone in the audience at this
    moment; a resume continues with the pending rows only.
    :raise Conflict: the mail-out is sending, sent or cancelled.
    """
    mailout = get_mailout(mailout_id)
    first = mailout.started_at is None
    now = utcnow()
    require_transition(
        mailout, Action.SEND,
        started_at=func.coalesce(Mailout.started_at, now), resumed_at=now, finished_at=None,
        throttle_tokens=1.0, throttle_at=now, consecutive_errors=0,
    )
    if first:
        create_deliveries(mailout, now)
        recipients = db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.mailout_id == mailout_id)
        )
        db.session.execute(update(Mailout).where(Mailout.id == mailout_id)
                           .values(recipients=recipients)
                           .execution_options(synchronize_session=False))
    record("mailout.send" if first else "mailout.resume", target_type="mailout",
           actor_id=actor_id, mailout_id=mailout_id)
    db.session.commit()
    db.session.refresh(mailout)
    return mailout


def create_deliveries(mailout: Mailout, now: datetime) -> None:
    """One ``INSERT ... SELECT`` of a pending row per recipient; existing rows stay."""
    audience = audience_query(mailout).with_only_columns(
        literal(mailout.id),
        Subscription.subscriber_id,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, UTCDateTime()),
    )
    columns = ["mailout_id", "subscriber_id", "status", "attempts", "next_attempt_at"]
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Delivery).from_select(columns, audience).on_conflict_do_nothing()
    db.session.execute(statement)


def finish(mailout_id: int) -> bool:
    """Mark a sending mail-out sent when no delivery is pending or in flight."""
    begin_write()
    left = exists().where(Delivery.mailout_id == mailout_id,
                          Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
    done = transition(mailout_id, Action.FINISH, ~left, finished_at=utcnow())
    if done:
        recount(mailout_id)
        record("mailout.sent", target_type="mailout", mailout_id=mailout_id)
    db.session.commit()
    return done


# -- the periodic sweep ------------------------------------------------------------------


def sweep(idle_seconds: float | None = None) -> list[int]:
    """Ids of sending mail-outs that need workers: due work and no claim for a while.

    Also finishes sending mail-outs with nothing left (their last worker died
    before it could).
    """
    now = utcnow()
    idle = now - timedelta(seconds=SWEEP_IDLE_SECONDS if idle_seconds is None else idle_seconds)
    stale = claims.stale_before(now)
    due = exists().where(
        Delivery.mailout_id == Mailout.id,
        or_(and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < stale)),
    )
    left = exists().where(Delivery.mailout_id == Mailout.id,
                          Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
    # Nobody claimed (the bucket's time) nor held a row (claims renewed per message) lately.
    holding = exists().where(Delivery.mailout_id == Mailout.id,
                             Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at > idle)
    quiet = and_(or_(Mailout.throttle_at.is_(None), Mailout.throttle_at <= idle), ~holding)
    sending = Mailout.status == MailoutStatus.SENDING
    needy = list(db.session.scalars(select(Mailout.id).where(sending, quiet, due)))
    finished = list(db.session.scalars(select(Mailout.id).where(sending, quiet, ~left)))
    db.session.rollback()
    for mailout_id in finished:
        finish(mailout_id)
    return needy


def start_due_scheduled() -> list[int]:
    """Start the scheduled mail-outs whose time has come; return their ids."""
    started = []
    for mailout_id in due_scheduled():
        try:
            start_sending(mailout_id)
        except Conflict:  # cancelled or started by someone else meanwhile
            continue
        started.append(mailout_id)
    return started
