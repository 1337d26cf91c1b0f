"""Writing to the audit log, and reading it.

The log knows its actors by id only; who an id is (an account's address) is for
the page that shows the log to join (``admin/audit.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from objectwar.audit.models import AuditEvent
from objectwar.errors import ValidationError
from objectwar.extensions import db


def record(action: str, target: Any = None, *, actor_id: int | None = None,
           target_type: str | None = None, target_id: int | None = None,
           **details: Any) -> AuditEvent:
    """Add an audit event to the session (committed with the change it records)."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target_type=target_type or (type(target).__name__.lower() if target is not None else "-"),
        target_id=target_id if target_id is not None else getattr(target, "id", None),
        details=details,
    )
    db.session.add(event)
    return event


def changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply ``values`` to ``obj`` and return ``{field: [before, after]}`` of what changed."""
    changed: dict[str, list[Any]] = {}
    for field, value in values.items():
        before = getattr(obj, field)
        if before != value:
            changed[field] = [before, value]
            setattr(obj, field, value)
    return changed


# -- reading the log (coordinators' /admin/audit) ------------------------------------

PAGE_SIZE = 50
# Anything shaped like an email address is shown masked: the log is read by every
# coordinator, and an address (a contact's, a colleague's) is nobody's business there.
_ADDRESS = re.compile(r"[^\s@<>\"',;]+@[^\s@<>\"',;]+")
MASK = "•••@•••"


@dataclass(frozen=True)
class AuditQuery:
    """What a coordinator asks of the log; ``before``: only events older than that id (paging)."""

    actor_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: int | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    before: int | None = None

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this query with ``changes`` (for links to other pages)."""
        values = {"actor": self.actor_id, "action": self.action, "target_type": self.target_type,
                  "target_id": self.target_id, "since": self.since, "until": self.until,
                  "before": self.before, **changes}
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def parse_query(args: Mapping[str, str]) -> AuditQuery:
    """The filter of the audit page from its query string.

    :raise ValidationError: a field is malformed (the message is at the field).
    """
    errors: dict[str, list[str]] = {}

    def number(name: str) -> int | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 10:
            errors[name] = [_("Enter a whole number.")]
            return None
        return int(raw)

    def day(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = [_("Enter a date as YYYY-MM-DD.")]
            return None

    def word(name: str) -> str | None:
        raw = (args.get(name) or "").strip()
        if len(raw) > 80:
            errors[name] = [_("This is too long.")]
            return None
        return raw or None

    query = AuditQuery(actor_id=number("actor"), action=word("action"),
                       target_type=word("target_type"), target_id=number("target_id"),
                       since=day("since"), until=day("until"), before=number("before"))
    if query.since and query.until and query.until < query.since:
        errors["until"] = [_("The end of the period must not come before its start.")]
    if errors:
        raise ValidationError(errors=errors)
    return query


@dataclass(frozen=True)
class EventView:
    """One line of the log as a coordinator sees it (addresses masked)."""

    id: int
    created_at: datetime
    actor_id: int | None
    action: str
    target_type: str
    target_id: int | None
    details: str
    actor: str | None = None  # the actor's address, filled in by the page that shows it


def find(query: AuditQuery, limit: int = PAGE_SIZE) -> tuple[list[EventView], int | None]:
    """The newest events matching ``query`` and the id to page on from (``None``: no more)."""
    conditions = []
    if query.actor_id is not None:
        conditions.append(AuditEvent.actor_id == query.actor_id)
    if query.action:
        conditions.append(AuditEvent.action == query.action)
    if query.target_type:
        conditions.append(AuditEvent.target_type == query.target_type)
    if query.target_id is not None:
        conditions.append(AuditEvent.target_id == query.target_id)
    if query.since:
        conditions.append(AuditEvent.created_at >= _start_of(query.since))
    if query.until:
        conditions.append(AuditEvent.created_at < _start_of(query.until + timedelta(days=1)))
    if query.before is not None:
        conditions.append(AuditEvent.id < query.before)
    rows = db.session.scalars(
        select(AuditEvent).where(*conditions).order_by(AuditEvent.id.desc()).limit(limit + 1)
    ).all()
    events = [EventView(event.id, event.created_at, event.actor_id, event.action,
                        event.target_type, event.target_id, describe(event.details))
              for event in rows[:limit]]
    more = events[-1].id if len(rows) > limit else None
    return events, more


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def describe(details: Any) -> str:
    """The details of an event in one line, every address masked."""
    if not details:
        return ""
    text = json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)
    return _ADDRESS.sub(MASK, text)


def choices() -> dict[str, list[Any]]:
    """What the filter's lists offer: the actions, kinds of object and ids of actors in the log."""
    actions = db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    kinds = db.session.scalars(select(AuditEvent.target_type).distinct()
                               .order_by(AuditEvent.target_type))
    return {"actions": list(actions), "target_types": list(kinds), "actor_ids": actor_ids()}


def actor_ids() -> Any:
    """A query of the ids of everyone who acted in the log (for the page to join)."""
    return select(AuditEvent.actor_id).where(AuditEvent.actor_id.is_not(None)).distinct()
