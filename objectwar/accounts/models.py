"""Users (coordinators and members of organisations) and their API tokens."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from objectwar.extensions import db
from objectwar.types import Encrypted, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from objectwar.organisations.models import Organisation


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"
    MEMBER = "member"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(Encrypted)
    name: Mapped[str | None] = mapped_column(Encrypted)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by logout, password change and "log out everywhere": sessions
    # carry the version they were made with and die when it moves on.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor login (objectwar.accounts.two_factor): the authenticator app's secret,
    # encrypted like other personal data; set when the set-up begins, in force once
    # ``totp_enabled_at`` is set. The time step of the last code accepted: a code works once.
    totp_secret: Mapped[str | None] = mapped_column(Encrypted)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None]

    organisation: Mapped[Organisation | None] = relationship(back_populates="users")
    api_tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def has_two_factor(self) -> bool:
        """Whether logging in takes a code from an authenticator app after the password."""
        return self.totp_enabled_at is not None

    def get_id(self) -> str:  # Flask-Login: the id and the session version
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class ApiToken(db.Model):
    """A named bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="api_tokens")


class RecoveryCode(db.Model):
    """A single-use code that stands in for a lost authenticator app.

    Only a keyed digest of the code is stored (``objectwar.accounts.two_factor``).
    """

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class Invitation(db.Model):
    """An invitation to join an organisation as a member user, or to coordinate the campaign.

    A member's invitation names the organisation; a coordinator's names none.
    The link in the email carries a signed token naming this row; accepting it
    sets ``accepted_at``, so a link works once. The email itself is a row of the
    outbox (``objectwar.mail``), made in the same transaction as this one.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(enum_type(Role), default=Role.MEMBER,
                                       server_default=Role.MEMBER.value)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email_digest: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str] = mapped_column(Encrypted)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship()
    invited_by: Mapped[User | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None
