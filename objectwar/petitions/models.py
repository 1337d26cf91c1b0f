"""Petitions, their texts and demands per locale, and signatures."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from objectwar.extensions import db
from objectwar.mail.models import ConfirmationColumns
from objectwar.organisations.models import Organisation
from objectwar.types import Encrypted, UTCDateTime, enum_type, utcnow


class PetitionStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Petition(db.Model):
    __tablename__ = "petitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[PetitionStatus] = mapped_column(
        enum_type(PetitionStatus), default=PetitionStatus.DRAFT, index=True
    )
    goal: Mapped[int] = mapped_column(default=10_000)
    default_locale: Mapped[str] = mapped_column(String(8), default="en")
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Confirmed signatures, kept exact by the confirming transaction so that
    # reading the count never counts rows.
    signature_count: Mapped[int] = mapped_column(default=0)
    # Removals from public view: confirmed signatures erased at their signers'
    # request, and a coordinator's moderation (a name hidden, a signature
    # deleted). With the count it names a state never seen before (the count
    # alone can come back to an old value), so that no cached page shows a
    # removed name again.
    erased_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    texts: Mapped[list[PetitionText]] = relationship(
        back_populates="petition", cascade="all, delete-orphan"
    )
    demands: Mapped[list[Demand]] = relationship(
        back_populates="petition", cascade="all, delete-orphan", order_by="Demand.position"
    )

    def text_for(self, locale: str) -> PetitionText | None:
        """The text in ``locale``, else in the default locale, else any."""
        return _pick(self.texts, locale, self.default_locale)

    def __repr__(self) -> str:
        return f"<Petition {self.slug}>"


class CountryCount(db.Model):
    """Confirmed signatures of a petition from one country.

    Kept exact by the transactions that confirm and erase signatures
    (``petitions.counts``), so that counting by country never counts rows.
    """

    __tablename__ = "petition_country_counts"

    petition_id: Mapped[int] = mapped_column(
        ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    confirmed: Mapped[int] = mapped_column(default=0)


class PetitionText(db.Model):
    __tablename__ = "petition_texts"
    __table_args__ = (UniqueConstraint("petition_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # When the words last changed (not when they were last saved unchanged): a
    # translation older than its default-locale text is outdated (``authoring``).
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="texts")


class Demand(db.Model):
    __tablename__ = "demands"
    __table_args__ = (UniqueConstraint("petition_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    position: Mapped[int]

    petition: Mapped[Petition] = relationship(back_populates="demands")
    texts: Mapped[list[DemandText]] = relationship(
        back_populates="demand", cascade="all, delete-orphan"
    )

    def text_for(self, locale: str) -> DemandText | None:
        return _pick(self.texts, locale, self.petition.default_locale)


class DemandText(db.Model):
    __tablename__ = "demand_texts"
    __table_args__ = (UniqueConstraint("demand_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # as PetitionText's

    demand: Mapped[Demand] = relationship(back_populates="texts")


class Signature(ConfirmationColumns, db.Model):
    __tablename__ = "signatures"
    __table_args__ = (
        UniqueConstraint("petition_id", "email_digest"),
        # Confirmed signatures of a petition, newest first (public signers, exports).
        Index("ix_signatures_petition_confirmed", "petition_id", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    email_digest: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(Encrypted)
    first_name: Mapped[str] = mapped_column(Encrypted)
    last_name: Mapped[str] = mapped_column(Encrypted)
    country: Mapped[str] = mapped_column(String(2))
    locale: Mapped[str] = mapped_column(String(8))
    public_name: Mapped[bool] = mapped_column(default=False)
    wants_updates: Mapped[bool] = mapped_column(default=False)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    consent_version: Mapped[str] = mapped_column(String(40))
    # The signer agreed that the crediting organisation may contact them: a box of its
    # own, never ticked for them, recorded with the version of its wording.
    partner_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    partner_consent_version: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Emails sent in the current 24-hour window (at most a few a day per address).
    confirmation_sends: Mapped[int] = mapped_column(default=0)
    confirmation_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)

    petition: Mapped[Petition] = relationship()
    organisation: Mapped[Organisation | None] = relationship()

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


def _pick(texts, locale: str, default_locale: str):
    by_locale = {text.locale: text for text in texts}
    return by_locale.get(locale) or by_locale.get(default_locale) or next(iter(texts), None)
