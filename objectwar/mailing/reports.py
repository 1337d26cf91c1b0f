"""Reports that come back to the bounce address: what they say, whom they concern, their effect.

``flask bounce-mail`` hands every message here (:func:`handle`). A report is a
delivery status notification (RFC 3464, or one of the common non-standard
bounce formats, which flufl.bounce recognises) or a complaint (ARF, RFC 5965).

What a report concerns is found only from what we put into the message: the
signed token of its envelope sender (``objectwar.mail.verp``: the address the
report was delivered to, or the Return-Path or Original-Mail-From of its copy
of the message) or the signed Message-ID of a mail-out's delivery
(``verp.message_id``). Never from the address the report claims alone:
complaint reports often blank it, and anybody can write one. A message that is
no report, a report that names nothing of ours, and one whose token does not
verify (another installation's) change nothing.

The effect follows ``bounces``' rules, in one transaction per report:

* a mail-out's delivery: recorded on the delivery and counted on the mail-out
  (which may pause itself: ``bounces.pause_reason``); a hard bounce makes the
  address bounced, a soft one only counts, a complaint unsubscribes it from
  every list;
* a subscription's confirmation: a hard bounce or a complaint likewise (a soft
  bounce: nothing, the relay tries again by itself);
* a signature's confirmation: the address is suppressed (no import adds it to
  a list, no reminder goes to it), and the email is not retried;
* a notice (an invitation, a password reset, ...): only logged.
"""

from __future__ import annotations

import email
import enum
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.iterators import typed_subpart_iterator
from email.message import Message

import flufl.bounce
from sqlalchemy import select, update

from objectwar.extensions import db
from objectwar.mail import verp
from objectwar.mail.models import NoticeKind
from objectwar.mailing import bounces
from objectwar.mailing.models import (
    Delivery,
    Mailout,
    MailoutStatus,
    ReportKind,
    Subscriber,
    Subscription,
)
from objectwar.mailouts import status as mailout_status
from objectwar.mailouts.claiming import begin_write
from objectwar.petitions.models import Signature

log = logging.getLogger(__name__)

# ARF feedback types that are complaints ("not-spam" and "auth-failure" are not).
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})
# Where the MTA that delivered the report to us wrote its envelope recipient.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To")
# The fields of a report's copy of our message (and of an ARF report) that hold our tokens.
ADDRESS_FIELDS = ("Original-Mail-From", "Return-Path")
# Our own tokens and Message-IDs where a report quotes the message as plain text (a
# bounce in no standard format): only our formats are looked for, nothing of theirs.
OURS_IN_TEXT = re.compile(
    r"\+([a-z]\d[0-9-]{0,60}-[a-z2-7]{16})@|(<mailout-\d+\.delivery-\d+\.[a-z2-7]{16}@[^>\s]+>)",
    re.IGNORECASE)


class Outcome(enum.StrEnum):
    HANDLED = "handled"
    NOT_A_REPORT = "not a report"  # no delivery status notification, no complaint
    NOT_OURS = "names nothing of ours"
    FOREIGN = "token does not verify"  # another installation's, or forged
    GONE = "no longer known"  # the row it names was deleted since


@dataclass(frozen=True)
class Report:
    """What a report says (``kind``) and the references to what we sent, most trusted first."""

    kind: ReportKind
    tokens: tuple[str, ...] = ()  # VERP tokens
    message_ids: tuple[str, ...] = ()


@dataclass
class Handled:
    """What :func:`handle` did with one message (for the log: never an address)."""

    outcome: Outcome
    kind: ReportKind | None = None
    sent: verp.Tag | None = None
    changed: bool = False  # a subscription, a delivery or a suppression changed
    paused: bool = False  # the mail-out paused itself on its rates
    notices: list[int] = field(default_factory=list)  # to queue (the coordinator's)

    def describe(self) -> str:
        if self.outcome != Outcome.HANDLED:
            return str(self.outcome)
        assert self.kind is not None and self.sent is not None
        what = f"{self.sent.kind.name.lower()} {'/'.join(map(str, self.sent.ids))}"
        effect = "recorded" if self.changed else "already recorded"
        return f"{self.kind} report for {what}: {effect}" + (
            "; the mail-out paused itself" if self.paused else "")


# -- reading ---------------------------------------------------------------------------


def read(raw: bytes, recipients: Sequence[str] = ()) -> Report | None:
    """What a message says, if it is a report; ``None`` if it is none.

    ``recipients``: the address(es) the MTA delivered it to, when it says so
    outside the message (the environment of a pipe); headers it added count too.
    """
    try:
        message = email.message_from_bytes(raw)
        kind = _complaint(message) if _is_arf(message) else _bounce(message)
    except Exception as error:  # a malformed message from anyone: it is no report
        # The kind of error only: its text may quote the message (and an address).
        log.debug("bounce-mail: cannot read the message: %s", type(error).__name__)
        return None
    if kind is None:
        return None
    tokens, message_ids = _references(message, recipients)
    return Report(kind, tuple(tokens), tuple(message_ids))


def _is_arf(message: Message) -> bool:
    return (message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type", "")).lower() == "feedback-report")


def _complaint(message: Message) -> ReportKind | None:
    for part in message.walk():
        feedback_type = part.get("Feedback-Type")
        if feedback_type is not None:
            return (ReportKind.COMPLAINT
                    if str(feedback_type).strip().lower() in COMPLAINT_TYPES else None)
    return None


def _bounce(message: Message) -> ReportKind | None:
    """Hard or soft, from flufl.bounce's detectors and the DSN's status codes."""
    temporary, permanent = flufl.bounce.all_failures(message)
    dsn = _dsn_kind(message)
    if dsn is not None:  # RFC 3464 says which: a 4.x.x status is soft even when given up
        return dsn
    if permanent:
        return ReportKind.HARD
    if temporary:
        return ReportKind.SOFT
    return None


def _dsn_kind(message: Message) -> ReportKind | None:
    """The gravest per-recipient status of a DSN's delivery-status part(s)."""
    found: list[ReportKind] = []
    for part in typed_subpart_iterator(message, "message", "delivery-status"):
        blocks = part.get_payload()  # type: ignore[attr-defined]
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            if action.startswith("delayed"):
                found.append(ReportKind.SOFT)
            elif action.startswith(("fail", "error")):
                found.append(ReportKind.SOFT if status.startswith("4") else ReportKind.HARD)
    return max(found, key=bounces.RANK.__getitem__) if found else None


def _references(message: Message, recipients: Sequence[str]) -> tuple[list[str], list[str]]:
    """VERP tokens and Message-IDs the report holds, the envelope recipient's first."""
    tokens: list[str] = []
    message_ids: list[str] = []
    addresses = list(recipients)
    addresses += [str(value) for name in RECIPIENT_HEADERS for value in message.get_all(name, [])]
    for part in _parts_below(message):
        addresses += [str(value) for name in ADDRESS_FIELDS for value in part.get_all(name, [])]
        message_ids += [str(value).strip() for value in part.get_all("Message-ID", [])]
    for address in addresses:
        token = verp.token_of_address(address)
        if token is not None:
            tokens.append(token)
    for text in _texts(message):  # a copy quoted as text, where nothing else named it
        for token, message_id in OURS_IN_TEXT.findall(text):
            (tokens if token else message_ids).append(token or message_id)
    return _unique(tokens), _unique(message_ids)


def _parts_below(message: Message) -> Iterator[Message]:
    """Every part but the report's own headers: its copy of the message, the ARF fields,
    and headers quoted as ``text/rfc822-headers``."""
    for part in message.walk():
        if part is message:
            continue
        if part.get_content_type() == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield email.message_from_bytes(payload)
            continue
        yield part


def _texts(message: Message) -> Iterator[str]:
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield payload.decode("utf-8", "replace")


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


# -- whom it concerns ----------------------------------------------------------------------


def identify(report: Report) -> tuple[verp.Tag | None, bool]:
    """The email of ours the report names (the first reference that verifies), and whether
    a reference of our shape failed to verify (another installation's)."""
    foreign = False
    references = [(verp.read_token, text) for text in report.tokens]
    references += [(verp.read_message_id, value) for value in report.message_ids]
    for read, reference in references:
        try:
            tag = read(reference)
        except verp.NotOurs:
            foreign = True
            continue
        if tag is not None:
            return tag, foreign
    return None, foreign


# -- the effect -----------------------------------------------------------------------------


def handle(raw: bytes, recipients: Sequence[str] = ()) -> Handled:
    """Read one message sent to the bounce address and apply what it reports.

    Idempotent: the same report twice changes nothing more. The caller queues
    ``notices`` (the coordinator's, when a mail-out paused itself).
    :raise sqlalchemy.exc.SQLAlchemyError: the database cannot be reached (try again later).
    """
    report = read(raw, recipients)
    if report is None:
        return Handled(Outcome.NOT_A_REPORT)
    tag, foreign = identify(report)
    if tag is None:
        return Handled(Outcome.FOREIGN if foreign else Outcome.NOT_OURS, report.kind)
    begin_write()
    try:
        handled = _APPLY[tag.kind](report.kind, tag)
        db.session.commit()
    finally:
        db.session.rollback()
    handled.sent = tag
    handled.kind = report.kind
    return handled


def _on_delivery(kind: ReportKind, tag: verp.Tag) -> Handled:
    mailout_id, delivery_id = tag.ids
    row = db.session.execute(
        select(Delivery.subscriber_id, Mailout.list_id)
        .join(Mailout, Mailout.id == Delivery.mailout_id)
        .where(Delivery.id == delivery_id, Delivery.mailout_id == mailout_id)
    ).one_or_none()
    if row is None:
        return Handled(Outcome.GONE)
    conn = db.session.connection()
    changed = bounces.report_delivery(conn, delivery_id, mailout_id, kind)
    if kind == ReportKind.HARD or (
            kind == ReportKind.SOFT
            and bounces.soft_run(conn, row.subscriber_id, delivery_id) >= bounces.SOFT_LIMIT):
        changed = bounces.address_bounced(conn, subscriber_id=row.subscriber_id) or changed
    elif kind == ReportKind.COMPLAINT:
        changed = bounces.address_complained(conn, subscriber_id=row.subscriber_id,
                                             list_id=row.list_id) or changed
    handled = Handled(Outcome.HANDLED, changed=changed)
    if changed and kind in bounces.COUNTERS:
        _pause_on_rates(mailout_id, handled)
    return handled


def _pause_on_rates(mailout_id: int, handled: Handled) -> None:
    """Pause a sending mail-out whose rates of bounces or complaints passed the limits."""
    row = db.session.execute(
        select(Mailout.status, Mailout.sent_count, Mailout.failed_count, Mailout.bounced_count,
               Mailout.complained_count).where(Mailout.id == mailout_id).with_for_update()
    ).one()
    delivered = row.sent_count + row.failed_count
    reason = bounces.pause_reason(delivered, row.bounced_count, row.complained_count)
    if row.status != MailoutStatus.SENDING or reason is None:
        return
    handled.paused, notice_id = mailout_status.pause_itself(
        mailout_id, "mailout.paused_on_reports", NoticeKind.MAILOUT_REPORTS, reason=reason,
        delivered=delivered, bounced=row.bounced_count, complained=row.complained_count)
    if notice_id is not None:
        handled.notices.append(notice_id)


def _on_subscription(kind: ReportKind, tag: verp.Tag) -> Handled:
    row = db.session.execute(
        select(Subscription.subscriber_id, Subscription.list_id).where(Subscription.id == tag.ids[0])
    ).one_or_none()
    if row is None:
        return Handled(Outcome.GONE)
    conn = db.session.connection()
    changed = False
    if kind == ReportKind.HARD:
        changed = bounces.address_bounced(conn, subscriber_id=row.subscriber_id)
    elif kind == ReportKind.COMPLAINT:
        changed = bounces.address_complained(conn, subscriber_id=row.subscriber_id,
                                             list_id=row.list_id)
    return Handled(Outcome.HANDLED, changed=changed)


def _on_signature(kind: ReportKind, tag: verp.Tag) -> Handled:
    digest = db.session.scalar(select(Signature.email_digest).where(Signature.id == tag.ids[0]))
    if digest is None:
        return Handled(Outcome.GONE)
    if kind == ReportKind.SOFT:
        return Handled(Outcome.HANDLED)
    conn = db.session.connection()
    subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email_digest == digest))
    changed = bool(conn.execute(  # the email is not tried again
        update(Signature.__table__)
        .where(Signature.__table__.c.id == tag.ids[0],
               Signature.__table__.c.confirmation_due_at.is_not(None))
        .values(confirmation_due_at=None)).rowcount)
    if kind == ReportKind.HARD:
        changed = bounces.address_bounced(conn, subscriber_id=subscriber_id, digest=digest) or changed
    else:
        changed = bounces.address_complained(conn, subscriber_id=subscriber_id, list_id=None,
                                             digest=digest) or changed
    return Handled(Outcome.HANDLED, changed=changed)


def _on_notice(kind: ReportKind, tag: verp.Tag) -> Handled:
    # Invitations, password resets, coordinators' notices: the people concerned are told
    # otherwise (an invitation that never arrives is sent again by hand).
    return Handled(Outcome.HANDLED)


_APPLY = {verp.Sent.MAILOUT: _on_delivery, verp.Sent.SUBSCRIPTION: _on_subscription,
          verp.Sent.SIGNATURE: _on_signature, verp.Sent.NOTICE: _on_notice}
