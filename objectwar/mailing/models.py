"""Mailing lists, subscribers, subscriptions, mail-outs and their deliveries."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from objectwar.accounts.models import User
from objectwar.extensions import db
from objectwar.mail.models import ClaimColumns, ConfirmationColumns
from objectwar.types import Encrypted, UTCDateTime, enum_type, utcnow


class SubscriptionStatus(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class SuppressionReason(enum.StrEnum):
    DELETED = "deleted"  # a coordinator deleted the subscription by hand
    ERASED = "erased"  # the person asked for their data to be erased
    BOUNCED = "bounced"  # a report said the address does not exist (``mailing.bounces``)
    COMPLAINED = "complained"  # its owner reported one of our emails as spam


class MailoutStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class ReportKind(enum.StrEnum):
    """What a report that came back after the relay's 250 said of a delivery (ranked)."""

    SOFT = "soft"  # a temporary failure (4.x.x): counts towards a bounce
    HARD = "hard"  # a permanent failure (5.x.x): the address bounced
    COMPLAINT = "complaint"  # the recipient reported it as spam (ARF)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class MailingList(db.Model):
    __tablename__ = "mailing_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ``name`` and ``description`` are in the default language; these, in the others.
    texts: Mapped[list[MailingListText]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MailingListText.locale")


class MailingListText(db.Model):
    """A list's name and description in one more language."""

    __tablename__ = "mailing_list_texts"
    __table_args__ = (UniqueConstraint("list_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class Subscriber(db.Model):
    """One person on any number of lists, known by the digest of their address."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(Encrypted)
    name: Mapped[str | None] = mapped_column(Encrypted)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(ConfirmationColumns, db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("list_id", "subscriber_id"),
        Index("ix_subscriptions_list_status", "list_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_type(SubscriptionStatus), default=SubscriptionStatus.UNCONFIRMED
    )
    source: Mapped[str] = mapped_column(String(200))
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    mailing_list: Mapped[MailingList] = relationship()
    subscriber: Mapped[Subscriber] = relationship()


class Suppression(db.Model):
    """An address no import may subscribe again, known only by its keyed digest.

    Written when a subscription is deleted (the row, and with it the status
    ``unsubscribed``, is gone); only the person's own confirmed opt-in lifts it.
    """

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_digest_list", "email_digest", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(String(64))
    # The list the address is kept off; ``None``: every list.
    list_id: Mapped[int | None] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    reason: Mapped[SuppressionReason] = mapped_column(enum_type(SuppressionReason))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mailout(db.Model):
    __tablename__ = "mailouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("mailing_lists.id", ondelete="RESTRICT"), index=True
    )
    default_locale: Mapped[str] = mapped_column(String(8), default="en")
    # Audience filter: empty lists mean everyone on the list.
    audience_countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience_locales: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[MailoutStatus] = mapped_column(
        enum_type(MailoutStatus), default=MailoutStatus.DRAFT, index=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rate_per_minute: Mapped[int] = mapped_column(default=600)
    # The name on the From line (the address stays MAIL_DEFAULT_SENDER's, which the
    # sending domain signs), and a Reply-To among MAIL_FROM_CHOICES; none: the defaults.
    from_name: Mapped[str | None] = mapped_column(String(100))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last start or resume: claims made before it are not sent from (a pause and
    # a resume while a worker sends must not let it burst past the restarted throttle).
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(default=0)
    sent_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    # Deliveries whose address bounced (refused with a 5xx, or reported) and that
    # were reported as spam: counted with the report, for the rates that pause it.
    bounced_count: Mapped[int] = mapped_column(default=0, server_default="0")
    complained_count: Mapped[int] = mapped_column(default=0, server_default="0")
    consecutive_errors: Mapped[int] = mapped_column(default=0)
    # The throttle, shared by every worker: a token bucket refilled at
    # rate_per_minute / 60 per second, read and spent under the row's lock when
    # a worker claims a batch; one token at start and at resume, about a second of
    # sending at most. ``throttle_at`` (the last refill) is also when a worker
    # last claimed work for this mail-out (the sweep's sign of life, with the
    # deliveries' claims).
    throttle_tokens: Mapped[float] = mapped_column(default=0.0, server_default="0")
    throttle_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    mailing_list: Mapped[MailingList] = relationship()
    created_by: Mapped[User | None] = relationship()
    texts: Mapped[list[MailoutText]] = relationship(
        back_populates="mailout", cascade="all, delete-orphan"
    )


class MailoutText(db.Model):
    """Subject and Markdown body of a mail-out in one locale."""

    __tablename__ = "mailout_texts"
    __table_args__ = (UniqueConstraint("mailout_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailout_id: Mapped[int] = mapped_column(ForeignKey("mailouts.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)

    mailout: Mapped[Mailout] = relationship(back_populates="texts")


class Delivery(ClaimColumns, db.Model):
    """One recipient of one mail-out: the record of what is left to send."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("mailout_id", "subscriber_id"),
        # Claiming work: due deliveries of one mail-out.
        Index("ix_deliveries_due", "mailout_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailout_id: Mapped[int] = mapped_column(ForeignKey("mailouts.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The gravest report that came back for it (``mailing.reports``); ``None``: none.
    reported: Mapped[ReportKind | None] = mapped_column(enum_type(ReportKind))
