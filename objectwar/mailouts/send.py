"""Sending a mail-out: one task's run claims batches, sends them, marks each recipient.

A run builds one frozen :class:`~objectwar.mailouts.compose.Snapshot` of the
mail-out when it starts and sends every recipient from it, never calling back into
the editing or status code for one; between batches it adds to the counters and may
pause the mail-out (``status``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, bindparam, func, select, text, update
from sqlalchemy.orm import selectinload

from objectwar.extensions import db
from objectwar.mail import claims, retry
from objectwar.mail import message as mailer
from objectwar.mail.models import NoticeKind
from objectwar.mailing import bounces
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    Mailout,
    MailoutStatus,
    ReportKind,
    SubscriptionStatus,
)
from objectwar.mailouts import compose, queries
from objectwar.mailouts.claiming import Claim, ClaimSize, begin_write, claim_batch, release, setting
from objectwar.mailouts.status import pause_itself, recount
from objectwar.mailouts.sweep import finish
from objectwar.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

ERROR_LIMIT = 20  # errors in a row that pause a mail-out
MAX_RELAY_BACKOFF_SECONDS = 600
RUN_SECONDS = 20.0  # one task sends for at most this long, then re-queues itself
# Takes the id of a committed outbox notice (to queue its sending).
Notify = Callable[[int], Any]


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    attempted: int = 0  # messages handed to the relay (or refused by it)
    errors_in_a_row: int = 0
    had_success: bool = False
    connection_lost: bool = False


class Marks:
    """Per-recipient changes under one claim, each committed on its own in one round trip.

    The hot path of a mail-out: a recipient is recorded as sent right after the
    relay's 250, with no ORM and no separate BEGIN/COMMIT (autocommit), and the
    same statement holds the next recipient (``queries.sent_and_hold_sql``). Every change
    is conditional on the claim's token: a row taken back is neither sent nor marked.

    On PostgreSQL these commits do not wait for the WAL to reach the disk
    (``synchronous_commit = off``, ``MAILOUT_ASYNC_COMMIT``, on by default):
    that halves the cost of a message. A killed worker loses nothing by it
    (the commit is in the server); a crash of the database server itself can
    forget the last fraction of a second of "sent" marks, whose recipients
    then get the message a second time.
    """

    def __init__(self, mailout_id: int, list_id: int, token: str,
                 epoch: datetime | None = None) -> None:
        self.mailout_id = mailout_id
        self.list_id = list_id
        self.token = token
        self.epoch = epoch
        self.conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.relaxed = (self.conn.dialect.name == "postgresql"
                        and bool(setting("MAILOUT_ASYNC_COMMIT", True)))
        if self.relaxed:
            self.conn.exec_driver_sql("SET synchronous_commit TO off")
        # PostgreSQL: the per-recipient statement goes straight through psycopg
        # (prepared, one round trip).
        self._cursor = (self.conn.connection.driver_connection.cursor()
                        if self.conn.dialect.name == "postgresql" else None)

    def hold(self, delivery_id: int, subscriber_id: int) -> tuple[bool, str | None]:
        """Renew the claim on a delivery about to be sent; whether this worker may send it
        (still held, mail-out still sending), and the recipient's subscription status now."""
        _done, held, status = self.sent(0, 0, delivery_id, subscriber_id)
        return held, status

    def sent(self, delivery_id: int, attempts: int, next_id: int = 0,
             next_subscriber: int = 0) -> tuple[bool, bool, str | None]:
        """Record a delivery sent (``delivery_id``; 0: none) and hold the next one
        (``next_id``; 0: none), in one statement (``queries.sent_and_hold_sql``).

        Returns whether the mark was made, and :meth:`hold`'s answer for the next.
        """
        params = {"id": delivery_id, "next": next_id, "now": utcnow(), "attempts": attempts,
                  "token": self.token, "mailout": self.mailout_id, "list": self.list_id,
                  "subscriber": next_subscriber, "epoch": self.epoch}
        if self._cursor is not None:
            self._cursor.execute(queries.PSYCOPG_SENT_AND_HOLD, params, prepare=True)
            changed = dict(self._cursor.fetchall())
        else:
            changed = dict(self.conn.execute(_sent_and_hold_statement(), params).all())
        held = next_id in changed
        status = changed.get(next_id)
        return delivery_id in changed, held, (str(status) if status is not None else None)

    def renew_all(self) -> None:
        """Renew the claim on every row this claim still holds."""
        table = Delivery.__table__
        self.conn.execute(
            update(table)
            .where(table.c.mailout_id == self.mailout_id, table.c.status == DeliveryStatus.SENDING,
                   table.c.claim_token == self.token)
            .values(claimed_at=utcnow())
        )

    def close(self) -> None:
        try:
            if self._cursor is not None:
                self._cursor.close()
            if self.relaxed and not self.conn.invalidated:
                self.conn.exec_driver_sql("RESET synchronous_commit")  # pooled: leave it as found
        finally:
            self.conn.close()

    def delivery(self, delivery_id: int, /, **values: Any) -> bool:
        """Change a delivery this claim still holds."""
        table = Delivery.__table__
        result = self.conn.execute(
            update(table)
            .where(table.c.id == delivery_id, table.c.status == DeliveryStatus.SENDING,
                   table.c.claim_token == self.token)
            .values(**values)
        )
        return result.rowcount == 1

    def release(self, ids: list[int], *, delay: float = 0.0) -> None:
        """Give rows this claim still holds back to pending, untried (no attempt counted)."""
        if not ids:
            return
        table = Delivery.__table__
        self.conn.execute(
            update(table)
            .where(table.c.id.in_(ids), table.c.status == DeliveryStatus.SENDING,
                   table.c.claim_token == self.token)
            .values(status=DeliveryStatus.PENDING,
                    next_attempt_at=utcnow() + timedelta(seconds=delay), **claims.released())
        )

    def bounced(self, delivery_id: int, subscriber_id: int) -> None:
        """The relay refused the recipient with a 5xx: the address bounced (``bounces``)."""
        bounces.report_delivery(self.conn, delivery_id, self.mailout_id, ReportKind.HARD)
        bounces.address_bounced(self.conn, subscriber_id=subscriber_id)


@functools.cache
def _sent_and_hold_statement() -> TextClause:
    """:data:`queries.SQLALCHEMY_SENT_AND_HOLD` with the model's type on the time."""
    return text(queries.SQLALCHEMY_SENT_AND_HOLD).bindparams(
        bindparam("now", type_=UTCDateTime()), bindparam("epoch", type_=UTCDateTime()))


def send_claimed(snapshot: compose.Snapshot, claim: Claim, conn: Any) -> BatchResult:
    """Send the claimed rows over one connection; each recipient committed on its own."""
    result = BatchResult()
    rows = queries.recipients(snapshot.list_id, claim.rows)
    db.session.rollback()  # end the read; every mark below is its own transaction
    assert claim.token is not None
    marks = Marks(snapshot.mailout_id, snapshot.list_id, claim.token, claim.epoch)
    try:
        _send_rows(snapshot, claim, conn, rows, marks, result)
    finally:
        marks.close()
    return result


def _send_rows(snapshot: compose.Snapshot, claim: Claim, conn: Any, rows: list[Any], marks: Marks,
               result: BatchResult) -> None:
    renewal = claims.Renewal()
    started = time.monotonic()
    # (held, subscription status) of the row about to be sent, read by the statement
    # that marked the row before it; ``None``: read it right before sending.
    check: tuple[bool, str | None] | None = None
    for index, row in enumerate(rows):
        if _pace(started, index, claim.per_second):
            check = None  # time passed: check again right before sending
        if renewal.due():
            marks.renew_all()
            renewal.done()
        held, status = check if check is not None else marks.hold(row.id, row.subscriber_id)
        check = None
        if not held:  # paused, cancelled, or the claim lapsed: send nothing more of it
            marks.release([r.id for r in rows[index:]])
            return
        if status != SubscriptionStatus.SUBSCRIBED:
            marks.delivery(row.id, status=DeliveryStatus.SKIPPED, **claims.released())
            continue
        try:
            envelope_from, data = snapshot.message(row.id, row.subscriber_id, row.email, row.name,
                                                   row.locale)
        except Exception as error:  # one bad record must not stop the mail-out
            log.exception("Mail-out %s: cannot build delivery %s", snapshot.mailout_id, row.id)
            if marks.delivery(row.id, status=DeliveryStatus.FAILED,
                              last_error=f"cannot build the message: {type(error).__name__}",
                              **claims.released()):
                result.failed += 1
            continue
        result.attempted += 1
        try:
            mailer.send_raw(conn, envelope_from, row.email, data)
        except mailer.SendError as error:
            result.errors_in_a_row += 1
            _failed_attempt(marks, row, error, result)
            if error.connection_lost:
                result.connection_lost = True
                marks.release([r.id for r in rows[index + 1:]])
                return
            continue
        following = rows[index + 1] if index + 1 < len(rows) else None
        done, next_held, next_status = marks.sent(
            row.id, row.attempts + 1,
            following.id if following else 0, following.subscriber_id if following else 0)
        if following is not None:
            check = (next_held, next_status)
        if done:
            result.sent += 1
        else:  # taken back while on the wire: nothing can call the message back
            log.warning("Mail-out %s: delivery %s was sent after its claim lapsed",
                        snapshot.mailout_id, row.id)
        result.had_success = True
        result.errors_in_a_row = 0


def _pace(started: float, index: int, per_second: float) -> bool:
    """Space a claim's messages at the mail-out's rate; whether this had to wait."""
    if index == 0 or per_second <= 0:
        return False
    wait = started + index / per_second - time.monotonic()
    if wait <= 0:
        return False
    time.sleep(wait)
    return True


def _failed_attempt(marks: Marks, row: Any, error: mailer.SendError, result: BatchResult) -> None:
    attempts = row.attempts + 1
    message = str(error)[:500]
    next_try = retry.next_try(attempts, permanent=error.permanent)
    if next_try is None:
        if marks.delivery(row.id, status=DeliveryStatus.FAILED, attempts=attempts,
                          last_error=message, **claims.released()):
            result.failed += 1
        if error.bounce:
            marks.bounced(row.id, row.subscriber_id)
        return
    marks.delivery(row.id, status=DeliveryStatus.PENDING, attempts=attempts, last_error=message,
                   next_attempt_at=next_try, **claims.released())


def _after_batch(mailout_id: int, result: BatchResult, notify: Notify | None = None) -> bool:
    """Add the batch to the counters; pause after too many errors. Returns whether it paused.

    A pause adds the email telling the coordinator to the outbox in the same
    transaction, then hands its id to ``notify`` (the caller queues it; without
    one, the periodic task of the outbox sends it).
    If a coordinator paused or cancelled meanwhile (and counted), count again instead.
    """
    begin_write()
    row = db.session.execute(
        select(Mailout.status, Mailout.consecutive_errors, Mailout.sent_count,
               Mailout.failed_count, Mailout.bounced_count, Mailout.complained_count)
        .where(Mailout.id == mailout_id).with_for_update()
    ).one()
    if row.status != MailoutStatus.SENDING:
        recount(mailout_id)
        db.session.commit()
        return False
    errors = (result.errors_in_a_row if result.had_success
              else row.consecutive_errors + result.errors_in_a_row)
    delivered = row.sent_count + result.sent + row.failed_count + result.failed
    values: dict[str, Any] = {
        "sent_count": Mailout.sent_count + result.sent,
        "failed_count": Mailout.failed_count + result.failed,
        "consecutive_errors": errors,
    }
    if result.connection_lost:  # every worker waits for the relay
        backoff = min(MAX_RELAY_BACKOFF_SECONDS, retry.delay(errors))
        values["throttle_at"] = utcnow() + timedelta(seconds=backoff)
    db.session.execute(update(Mailout).where(Mailout.id == mailout_id).values(**values)
                       .execution_options(synchronize_session=False))
    paused, notice_id = False, None
    # Refusals of the relay count as bounces at once (``bounces``), so do their rates.
    reason = bounces.pause_reason(delivered, row.bounced_count, row.complained_count)
    if errors >= ERROR_LIMIT:
        paused, notice_id = pause_itself(
            mailout_id, "mailout.paused_on_errors", NoticeKind.MAILOUT_PAUSED,
            errors_in_a_row=errors)
    elif reason is not None:
        paused, notice_id = pause_itself(
            mailout_id, "mailout.paused_on_reports", NoticeKind.MAILOUT_REPORTS, reason=reason,
            delivered=delivered, bounced=row.bounced_count, complained=row.complained_count)
    db.session.commit()
    if notice_id is not None and notify is not None:
        notify(notice_id)
    return paused


# -- one task's run ------------------------------------------------------------------


def run(mailout_id: int, *, seconds: float | None = None, notify: Notify | None = None) -> float | None:
    """Claim and send batches for up to ``seconds``.

    Returns ``None`` when this chain of tasks should stop (not sending any more,
    or finished), else the delay in seconds before the next task should run.
    ``notify`` is given the id of an outbox notice committed on the way (the
    coordinator's pause notice) to queue its sending.
    """
    deadline = time.monotonic() + (RUN_SECONDS if seconds is None else seconds)
    mailout = db.session.scalar(
        select(Mailout).where(Mailout.id == mailout_id)
        .options(selectinload(Mailout.texts), selectinload(Mailout.mailing_list))
    )
    if mailout is None:
        return None
    snapshot = compose.snapshot(mailout)
    conn = None
    size = ClaimSize()
    try:
        while time.monotonic() < deadline:
            claim = claim_batch(mailout_id, size.size)
            if claim.status != MailoutStatus.SENDING:
                return None
            if not claim.rows:
                if claim.wait is None:
                    return _when_nothing_due(mailout_id)
                if claim.wait <= 2 and time.monotonic() + claim.wait < deadline:
                    time.sleep(claim.wait)
                    continue
                return min(claim.wait, 5.0)
            if conn is None:
                try:
                    conn = mailer.open_connection()
                except mailer.SendError as error:
                    log.warning("Mail-out %s: %s", mailout_id, error)
                    release(claim)
                    if _after_batch(mailout_id, BatchResult(errors_in_a_row=1, connection_lost=True),
                                    notify):
                        return None
                    return 1.0
            sending_since = time.monotonic()
            result = send_claimed(snapshot, claim, conn)
            size.measured(result.attempted, time.monotonic() - sending_since)
            if _after_batch(mailout_id, result, notify):
                return None
            if result.connection_lost:
                mailer.close_connection(conn)
                conn = None
                return 1.0
    finally:
        if conn is not None:
            mailer.close_connection(conn)
        db.session.rollback()
    return 0.0


def _when_nothing_due(mailout_id: int) -> float | None:
    """Finish the mail-out if no row is left, else the wait until one is due."""
    now = utcnow()
    db.session.rollback()
    next_retry = db.session.scalar(
        select(func.min(Delivery.next_attempt_at))
        .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.PENDING)
    )
    oldest_claim = db.session.scalar(
        select(func.min(Delivery.claimed_at))
        .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.SENDING)
    )
    if next_retry is None and oldest_claim is None:
        finish(mailout_id)
        return None
    waits = []
    if next_retry is not None:
        waits.append((next_retry - now).total_seconds())
    if oldest_claim is not None:  # when it lapses, if its worker died
        lapses_at = oldest_claim + timedelta(seconds=claims.lease_seconds())
        waits.append((lapses_at - now).total_seconds())
    return max(0.5, min(5.0, min(waits)))
