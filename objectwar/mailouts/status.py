"""A mail-out's status, the one state machine: its table, its counters and its progress.

``draft → scheduled → sending ⇄ paused → sent / cancelled``: every change of
status goes through :func:`transition`, and no other module writes the status
(``tests/test_mailout_status_writes.py`` reads the code to hold that).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from objectwar.audit.services import record
from objectwar.errors import Conflict
from objectwar.extensions import db
from objectwar.mail import notices as mail_notices
from objectwar.mail.models import NoticeKind
from objectwar.mailing.models import Delivery, DeliveryStatus, Mailout, MailoutStatus, ReportKind
from objectwar.mailouts.queries import get_mailout
from objectwar.types import utcnow


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


def new_draft(**fields: Any) -> Mailout:
    """A new mail-out in its first status (the caller adds it to the session)."""
    return Mailout(status=MailoutStatus.DRAFT, **fields)


# A mail-out's texts, audience and pace can change until sending starts.
EDITABLE = frozenset({MailoutStatus.DRAFT, MailoutStatus.SCHEDULED})


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
    notice = mail_notices.queue(kind, mailout_id, user.email, user.locale or "en")
    db.session.flush()
    return notice.id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
