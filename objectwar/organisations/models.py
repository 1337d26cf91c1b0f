"""Partner organisations of the campaign."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from objectwar.extensions import db
from objectwar.types import Encrypted, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from objectwar.accounts.models import User


class OrganisationStatus(enum.StrEnum):
    APPLIED = "applied"
    MEMBER = "member"
    SUSPENDED = "suspended"
    REJECTED = "rejected"


class Organisation(db.Model):
    __tablename__ = "organisations"
    __table_args__ = (
        # The public directory: members, optionally of one country.
        Index("ix_organisations_directory", "status", "public", "country"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))
    website: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    logo: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(Encrypted)
    contact_email: Mapped[str | None] = mapped_column(Encrypted)
    application_note: Mapped[str | None] = mapped_column(Encrypted)
    # The language of the contact's emails (the page language of the application).
    contact_locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[OrganisationStatus] = mapped_column(
        enum_type(OrganisationStatus), default=OrganisationStatus.APPLIED
    )
    public: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")

    @property
    def is_listed(self) -> bool:
        """Shown in public: a member that chose to be listed."""
        return self.status == OrganisationStatus.MEMBER and self.public

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"
