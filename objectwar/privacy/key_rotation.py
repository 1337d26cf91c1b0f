"""Re-encrypting the personal data at rest with the newest data key (``flask rotate-data-key``).

``DATA_KEY=new,old`` already encrypts every new value with the new key and reads
old ones with either. This rewrites the old ones, a batch of rows at a time, so
that the old key can then be dropped. Each value is replaced only if the row
still holds what was read (a concurrent change wins), so it runs beside the web
processes and workers, and it can be run again: values the newest key opens
already are left alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from sqlalchemy import Column, Text, literal, select, type_coerce, update

from objectwar import security
from objectwar.extensions import db
from objectwar.types import Encrypted

BATCH_SIZE = 500


@dataclass
class Rotation:
    """What a run did, per ``table.column``."""

    rewritten: Counter[str] = field(default_factory=Counter)
    current: Counter[str] = field(default_factory=Counter)  # the newest key opens them already
    unreadable: Counter[str] = field(default_factory=Counter)  # no configured key opens them


def encrypted_columns() -> list[Column]:
    """Every column of the models whose values are encrypted at rest."""
    return [column for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, Encrypted)]


def rotate(batch_size: int = BATCH_SIZE) -> Rotation:
    """Re-encrypt every value not under the newest data key with it; one commit per batch."""
    rotation = Rotation()
    for column in encrypted_columns():
        _rotate_column(column, batch_size, rotation)
    return rotation


def _rotate_column(column: Column, batch_size: int, rotation: Rotation) -> None:
    name = f"{column.table.name}.{column.name}"
    (key,) = column.table.primary_key.columns
    stored = type_coerce(column, Text)  # the token as stored, never decrypted by the type
    last = None
    while True:
        query = select(key, stored).where(column.is_not(None)).order_by(key).limit(batch_size)
        if last is not None:
            query = query.where(key > last)
        rows = db.session.execute(query).all()
        if not rows:
            return
        for row_id, token in rows:
            if security.encrypted_with_newest(token):
                rotation.current[name] += 1
                continue
            try:
                fresh = security.reencrypt(token)
            except InvalidToken:
                rotation.unreadable[name] += 1
                continue
            result = db.session.execute(
                update(column.table).where(key == row_id, stored == token)
                .values({column.name: literal(fresh, Text)})
            )
            # No row: it changed (or went) since the read; :func:`remaining` looks again.
            if result.rowcount:
                rotation.rewritten[name] += 1
        db.session.commit()
        last = rows[-1][0]


def remaining() -> Counter[str]:
    """Values, per ``table.column``, that the newest data key does not open: after a
    rotation, any written meanwhile by a process still on the old ``DATA_KEY``."""
    left: Counter[str] = Counter()
    for column in encrypted_columns():
        stored = type_coerce(column, Text)
        for (token,) in db.session.execute(select(stored).where(column.is_not(None))):
            if not security.encrypted_with_newest(token):
                left[f"{column.table.name}.{column.name}"] += 1
    db.session.rollback()
    return left
