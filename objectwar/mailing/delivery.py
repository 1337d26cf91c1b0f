"""Delivering mail-outs: one row per recipient, claimed, sent and marked by workers.

The rows are the record (DESIGN.md principle 1); the queue only carries the
mail-out's id. How it holds together:

* :func:`start_sending` creates every recipient's ``Delivery`` in ONE
  ``INSERT ... SELECT`` (``ON CONFLICT DO NOTHING``, so a repeat adds no one).
* :func:`run` (the ``deliver_batch`` task) claims small batches and sends them.
  A claim is one short transaction that locks the mail-out's row
  (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
  re-reads its status, puts rows whose claim lapsed back to pending (a killed
  worker), spends tokens of the throttle and marks due rows ``sending`` under a
  token of its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). The claim rule is
  the one of every email row (``outbox.claims``).
* A worker sends a row only while it holds it: right before each message one
  statement renews the row's claim and checks that it still carries the
  worker's token and that the mail-out is still sending (pause and cancel stop
  it before the next message); every third of the lease it renews the whole
  claim. A claim takes no more rows than the worker sends in a third of the
  lease (:class:`ClaimSize`), so a slow relay or a busy machine never lets
  another worker take over rows a live one still holds.
* The throttle is a token bucket in the mail-out's row (``throttle_tokens``,
  refilled at ``rate_per_minute / 60`` per second since ``throttle_at``). It
  starts with one token at start and at resume and holds about one second of
  sending at most, so at any moment a mail-out has sent at most
  ``1 + seconds × rate_per_minute / 60`` messages, across all workers on any
  database; a claim's messages are spaced at that rate. A relay that cannot be
  reached moves ``throttle_at`` into the future: every worker backs off together.
* Each recipient is committed ``sent`` right after the relay's 250, under the
  claim it was sent with, so a duplicate needs a worker killed between those
  two moments: at most one per killed worker thread. The Message-ID is the
  same for every attempt at one delivery. The same statement holds the next
  recipient and reads its subscription (``queries.sent_and_hold_sql``), so an unsubscribe
  stops the very next message; ``lists.unsubscribe`` also skips the person's
  pending rows at once.
* Each run builds a locale's message once (``mailer.RawTemplate``) and only
  substitutes name, unsubscribe URL, To and Message-ID per recipient.
* Chains of ``deliver_batch`` tasks can be lost with a killed worker: the
  periodic :func:`sweep` re-queues sending mail-outs nobody claimed from or
  sent for ``SWEEP_IDLE_SECONDS`` that still have due rows, and finishes those
  with nothing left.
* 4xx answers and lost connections return rows to pending with a delay from
  ``MAIL_RETRY_SECONDS`` doubling per attempt (``outbox.retry``); 5xx answers fail the delivery,
  and one to the recipient's address is a hard bounce (``bounces``); ``ERROR_LIMIT`` errors
  in a row, or rates of bounces and complaints past ``bounces.pause_reason``'s, pause the
  mail-out and tell its coordinator (a notice in the outbox, written with the pause).
* Each message's envelope sender names its delivery (``objectwar.mail.verp``), as its
  Message-ID does: the reports that come back after the 250 find it (``reports``).

Optional settings (``app.config``, defaults in code): ``MAILOUT_BATCH_SIZE`` (200),
``MAILOUT_CHAINS`` (4 parallel task chains per mail-out, in ``tasks.py``),
``MAILOUT_ASYNC_COMMIT`` (on; see :class:`Marks`) and ``UNSUBSCRIBE_MAILBOX``
(the mailto of ``List-Unsubscribe``, see :func:`unsubscribe_mailbox`; the
``unsubscribe-mail`` command reads what arrives there).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import TextClause, and_, bindparam, exists, func, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload

from objectwar import security
from objectwar.audit.services import record
from objectwar.errors import Conflict
from objectwar.extensions import db
from objectwar.mail import addresses, claims, retry, verp
from objectwar.mail import message as mailer
from objectwar.mail.models import NoticeKind
from objectwar.mailing import bounces, mailouts, queries
from objectwar.mailing.mailouts import Action
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    Mailout,
    MailoutStatus,
    ReportKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from objectwar.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # recipients per claim (MAILOUT_BATCH_SIZE overrides)
ERROR_LIMIT = 20  # errors in a row that pause a mail-out
FIRST_CLAIM = 20  # rows of a worker's first claim, before it has measured its pace
MAX_RELAY_BACKOFF_SECONDS = 600
RUN_SECONDS = 20.0  # one task sends for at most this long, then re-queues itself
SWEEP_IDLE_SECONDS = 30  # a sending mail-out nobody claimed for this long is re-queued
UNSUBSCRIBE_PURPOSE = "unsubscribe"
# Takes the id of a committed outbox notice (to queue its sending).
Notify = Callable[[int], Any]
# The subject of the mailto: a mail client sends "unsubscribe <token>" (the token is URL-safe).
MAILTO_SUBJECT = "unsubscribe"
TOKEN_SLOT = "XTOKENSLOTX"  # noqa: S105 (not a secret: stands for the token in a URL)


def _setting(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


# -- starting --------------------------------------------------------------------


def start_sending(mailout_id: int, *, actor_id: int | None = None) -> Mailout:
    """Start (or resume) sending; the caller queues ``deliver_batch`` afterwards.

    The first start creates the deliveries of everyone in the audience at this
    moment; a resume continues with the pending rows only.
    :raise Conflict: the mail-out is sending, sent or cancelled.
    """
    mailout = mailouts.get_mailout(mailout_id)
    first = mailout.started_at is None
    now = utcnow()
    mailouts.require_transition(
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
    audience = mailouts.audience_query(mailout).with_only_columns(
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


def batch_size() -> int:
    return int(_setting("MAILOUT_BATCH_SIZE", BATCH_SIZE))


def throttle_burst(per_second: float) -> int:
    """The most tokens the bucket holds: about one second of sending, one at the least."""
    return min(batch_size(), max(1, math.ceil(per_second)))


# -- claiming ------------------------------------------------------------------------


@dataclass
class Claim:
    """What one claim got: rows to send under ``token``, or why there are none."""

    status: MailoutStatus
    rows: list[int] = field(default_factory=list)
    token: str | None = None
    wait: float | None = None  # seconds until the throttle (or a relay back-off) allows more
    per_second: float = 0.0  # the mail-out's pace, for spacing the claim's messages
    epoch: datetime | None = None  # the mail-out's last (re)start: the claim is good within it


def begin_write() -> None:
    """Begin a transaction that may write; on SQLite take the write lock now.

    SQLite's default deferred transactions fail (SQLITE_BUSY) when two readers
    both try to write; ``BEGIN IMMEDIATE`` makes claimers queue instead.
    """
    db.session.rollback()
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def claim_batch(mailout_id: int, size: int) -> Claim:
    """Claim up to ``size`` due deliveries of a sending mail-out, within its throttle.

    The throttle is a token bucket that starts with one token at start and at
    resume and holds about one second of sending at most: whatever the number
    of workers, a mail-out has claimed (so sent) at most
    ``1 + seconds since start × rate_per_minute / 60`` recipients.
    """
    begin_write()
    now = utcnow()
    row = db.session.execute(
        select(Mailout.status, Mailout.rate_per_minute, Mailout.throttle_tokens, Mailout.throttle_at,
               Mailout.resumed_at)
        .where(Mailout.id == mailout_id).with_for_update()
    ).one_or_none()
    if row is None or row.status != MailoutStatus.SENDING:
        db.session.rollback()
        return Claim(status=row.status if row else MailoutStatus.CANCELLED)
    if row.throttle_at is not None and row.throttle_at > now:  # the relay is backed off
        db.session.rollback()
        return Claim(status=row.status, wait=(row.throttle_at - now).total_seconds())
    per_second = row.rate_per_minute / 60.0
    burst = throttle_burst(per_second)
    elapsed = (now - row.throttle_at).total_seconds() if row.throttle_at else 0.0
    tokens = min(float(burst), row.throttle_tokens + elapsed * per_second)
    wanted = min(size, burst)  # about one claim a second at most
    if tokens < wanted:
        _save_bucket(mailout_id, tokens, now)
        db.session.commit()
        return Claim(status=row.status, wait=(wanted - tokens) / per_second)

    # Rows whose claim nobody renewed for a lease belong to a dead worker.
    db.session.execute(
        update(Delivery)
        .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.SENDING,
               Delivery.claimed_at < claims.stale_before(now))
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, **claims.released())
        .execution_options(synchronize_session=False)
    )
    ids = list(db.session.scalars(
        select(Delivery.id)
        .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.PENDING,
               Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(int(min(size, tokens)))
        .with_for_update(skip_locked=True)
    ))
    token = claims.new_token()
    if ids:
        db.session.execute(
            update(Delivery).where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.SENDING, claim_token=token, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
    _save_bucket(mailout_id, tokens - len(ids), now)
    db.session.commit()
    return Claim(status=row.status, rows=ids, token=token, per_second=per_second,
                 epoch=row.resumed_at)


def _save_bucket(mailout_id: int, tokens: float, now: datetime) -> None:
    db.session.execute(
        update(Mailout).where(Mailout.id == mailout_id)
        .values(throttle_tokens=tokens, throttle_at=now)
        .execution_options(synchronize_session=False)
    )


class ClaimSize:
    """How many rows this worker claims at once: what it sends in a third of the lease.

    A worker never holds more rows than it can send before its claim needs
    renewing; it starts with ``FIRST_CLAIM`` rows and then follows the pace it
    measured (a slow relay, a throttle, a busy machine all make claims smaller).
    """

    def __init__(self) -> None:
        self.limit = batch_size()
        self.size = min(self.limit, FIRST_CLAIM)

    def measured(self, messages: int, seconds: float) -> None:
        if messages <= 0:
            return
        per_message = max(seconds / messages, 1e-6)
        budget = claims.lease_seconds() / claims.RENEW_FRACTION
        self.size = max(1, min(self.limit, int(budget / per_message)))


# -- sending -----------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    attempted: int = 0  # messages handed to the relay (or refused by it)
    errors_in_a_row: int = 0
    had_success: bool = False
    connection_lost: bool = False


class Composer:
    """Each locale's message built once; personal values substituted per recipient."""

    def __init__(self, mailout: Mailout) -> None:
        self.mailout = mailout
        self.mailout_id = mailout.id
        self.list_id = mailout.list_id
        self._templates: dict[str, tuple[mailer.RawTemplate, dict[str, str]]] = {}
        # Built once: only the token changes between recipients.
        self._unsubscribe_base = mailer.external_url("mailing.unsubscribe", token=TOKEN_SLOT)
        self._mailto = f"mailto:{unsubscribe_mailbox()}?subject={MAILTO_SUBJECT}%20"
        self._bounce = verp.bounce_address()
        self._host = addresses.public_host()

    def template(self, locale: str) -> tuple[mailer.RawTemplate, dict[str, str]]:
        found = self._templates.get(locale)
        if found is None:
            rendered = mailouts.render(self.mailout, locale)
            found = (mailouts.message_template(self.mailout, rendered), rendered.markers)
            self._templates[locale] = found
        return found

    def message(self, delivery_id: int, subscriber_id: int, address: str, name: str | None,
                locale: str) -> tuple[str, bytes]:
        """The delivery's envelope sender and message. Both name the delivery, signed
        once (``objectwar.mail.verp``): its bounce or complaint report finds it."""
        template, markers = self.template(locale)
        token = unsubscribe_token(subscriber_id, self.list_id)
        url = self._unsubscribe_base.replace(TOKEN_SLOT, token)
        signed = verp.signature(verp.Tag(verp.Sent.MAILOUT, (self.mailout_id, delivery_id)))
        envelope = verp.envelope_sender(verp.Sent.MAILOUT, self.mailout_id, delivery_id,
                                        bounce=self._bounce, signed=signed)
        return envelope, template.render(
            to=address, to_name=name,
            message_id=mailouts.message_id(self.mailout_id, delivery_id, signed=signed,
                                           host=self._host),
            values={markers["name"]: name or "", markers["unsubscribe_url"]: url},
            headers={"List-Unsubscribe": f"<{url}>, <{self._mailto}{token}>"},
        )


def unsubscribe_mailbox() -> str:
    """The address of ``List-Unsubscribe``'s mailto: ``UNSUBSCRIBE_MAILBOX``, else
    ``unsubscribe@`` the domain of ``MAIL_DEFAULT_SENDER`` (of ``PUBLIC_URL`` without one)."""
    return addresses.mailbox("UNSUBSCRIBE_MAILBOX", "unsubscribe")


def unsubscribe_token(subscriber_id: int, list_id: int) -> str:
    """The signed token of one subscriber's unsubscribe link for one list."""
    return security.make_token(UNSUBSCRIBE_PURPOSE, [subscriber_id, list_id])


def _recipients(mailout: Mailout, ids: list[int]) -> list[Any]:
    """The claimed rows with addresses and the subscription's status read now."""
    return list(db.session.execute(
        select(Delivery.id, Delivery.subscriber_id, Delivery.attempts, Subscriber.email,
               Subscriber.name, Subscriber.locale, Subscription.status)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(Subscription, and_(Subscription.subscriber_id == Delivery.subscriber_id,
                                      Subscription.list_id == mailout.list_id))
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ))


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
                        and bool(_setting("MAILOUT_ASYNC_COMMIT", True)))
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


def send_claimed(composer: Composer, claim: Claim, conn: Any) -> BatchResult:
    """Send the claimed rows over one connection; each recipient committed on its own."""
    result = BatchResult()
    rows = _recipients(composer.mailout, claim.rows)
    db.session.rollback()  # end the read; every mark below is its own transaction
    assert claim.token is not None
    marks = Marks(composer.mailout_id, composer.list_id, claim.token, claim.epoch)
    try:
        _send_rows(composer, claim, conn, rows, marks, result)
    finally:
        marks.close()
    return result


def _send_rows(composer: Composer, claim: Claim, conn: Any, rows: list[Any], marks: Marks,
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
            envelope_from, data = composer.message(row.id, row.subscriber_id, row.email, row.name,
                                                   row.locale)
        except Exception as error:  # one bad record must not stop the mail-out
            log.exception("Mail-out %s: cannot build delivery %s", composer.mailout_id, row.id)
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
                        composer.mailout_id, row.id)
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


def release(claim: Claim) -> None:
    """Give a claim's rows back to pending, untried (its worker could not send them)."""
    if not claim.rows:
        return
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(claim.rows), Delivery.status == DeliveryStatus.SENDING,
               Delivery.claim_token == claim.token)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow(), **claims.released())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


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
        mailouts.recount(mailout_id)
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
        paused, notice_id = mailouts.pause_itself(
            mailout_id, "mailout.paused_on_errors", NoticeKind.MAILOUT_PAUSED,
            errors_in_a_row=errors)
    elif reason is not None:
        paused, notice_id = mailouts.pause_itself(
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
    composer = Composer(mailout)
    db.session.expunge(mailout)  # keep texts loaded across the commits below
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
            result = send_claimed(composer, claim, conn)
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


def finish(mailout_id: int) -> bool:
    """Mark a sending mail-out sent when no delivery is pending or in flight."""
    begin_write()
    left = exists().where(Delivery.mailout_id == mailout_id,
                          Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
    done = mailouts.transition(mailout_id, Action.FINISH, ~left, finished_at=utcnow())
    if done:
        mailouts.recount(mailout_id)
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
    for mailout_id in mailouts.due_scheduled():
        try:
            start_sending(mailout_id)
        except Conflict:  # cancelled or started by someone else meanwhile
            continue
        started.append(mailout_id)
    return started
