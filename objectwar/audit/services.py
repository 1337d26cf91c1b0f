"""Writing to the audit log."""

from __future__ import annotations

from typing import Any

from objectwar.audit.models import AuditEvent
from objectwar.extensions import db


def record(action: str, target: Any = None, *, actor_id: int | None = None,
           target_type: str | None = None, **details: Any) -> AuditEvent:
    """Add an audit event to the session (committed with the change it records)."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target_type=target_type or (type(target).__name__.lower() if target is not None else "-"),
        target_id=getattr(target, "id", None),
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
