"""Emails as rows (DESIGN principle 1): the columns every email row has, and the notices.

A domain's row that is the record of its email takes its columns from the mixins
here (:class:`ClaimColumns`, :class:`ConfirmationColumns`), so that the rules of
``mail.claims`` and ``mail.rows`` find the same columns on every such row.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from objectwar.extensions import db
from objectwar.types import Encrypted, UTCDateTime, enum_type, utcnow


class NoticeKind(enum.StrEnum):
    APPLICATION_RECEIVED = "application_received"  # to the applicant's contact
    APPLICATION_NOTICE = "application_notice"  # to each coordinator
    APPLICATION_REJECTED = "application_rejected"  # to the contact, with the message
    INVITATION = "invitation"  # target: an Invitation
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a kind, not a secret); target: a User
    MAILOUT_PAUSED = "mailout_paused"  # target: a Mailout paused on errors; to its coordinator
    MAILOUT_REPORTS = "mailout_reports"  # target: a Mailout paused on bounces or complaints; likewise
    MAILOUT_TEST = "mailout_test"  # target: a Mailout; its message in ``locale``, to the coordinator who asked
    DATA_EXPORT = "data_export"  # target 0: a link to see what is held for the recipient's address
    DATA_ERASURE = "data_erasure"  # target 0: a link to erase what is held for the recipient's address


class ClaimColumns:
    """The claim of the worker sending a row's email (``mail.claims``): its token and
    its last renewal."""

    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConfirmationColumns(ClaimColumns):
    """A row that is the record of its own confirmation email (``mail.rows``)."""

    # Set when the email is due, cleared when it is sent.
    confirmation_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed sends of the email now due (``mail.rows``: retries double, then give up).
    # A server default only, so that a plain INSERT need not name it.
    confirmation_failures: Mapped[int] = mapped_column(server_default="0")
    # When the one reminder to confirm became due (``mail.rows.remind``); never cleared.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notice(ClaimColumns, db.Model):
    """One email to one recipient: due until a worker has sent it."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NoticeKind] = mapped_column(enum_type(NoticeKind))
    # The row the email is about (an organisation, an invitation, a user or a mail-out).
    target_id: Mapped[int]
    recipient: Mapped[str] = mapped_column(Encrypted)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    # Free text of the email (a coordinator's message to a rejected applicant).
    message: Mapped[str | None] = mapped_column(Encrypted)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while the email is still to be sent; cleared when it is.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
