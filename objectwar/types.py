"""Column types shared by the domains' models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, Text, TypeDecorator, func
from sqlalchemy.engine import Dialect

from objectwar import security
from objectwar.extensions import db


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the only kind of datetime we store)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use objectwar.types.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Encrypted(TypeDecorator[str]):
    """Text encrypted at rest with the application's data keys (Fernet).

    Stored as Fernet tokens (ASCII); read back as the original text.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return security.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return security.decrypt(value)


def enum_type(enum_class: type[enum.Enum]) -> Enum:
    """A VARCHAR column type holding an enum's values (portable, no native type)."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def utc_day(column: Any) -> Any:
    """SQL: the UTC day of a ``UTCDateTime`` column (a date, or ``YYYY-MM-DD`` text on SQLite)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text: its first ten characters are the day


def day_text(value: Any) -> str:
    """A day read back from :func:`utc_day`, as ``YYYY-MM-DD``."""
    return value if isinstance(value, str) else value.isoformat()
