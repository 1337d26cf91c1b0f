"""``/admin/audit``: the audit log for coordinators (attached to the ``admin`` blueprint)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from flask import render_template, request
from sqlalchemy import select

from objectwar.accounts import permissions
from objectwar.accounts.models import User
from objectwar.admin.views import bp
from objectwar.audit import services as audit
from objectwar.errors import ValidationError
from objectwar.extensions import db


@bp.get("/audit")
@permissions.coordinator_required
def audit_log():
    """Who did what, on what and when: filtered by actor, action, object and period, newest first."""
    try:
        query = audit.parse_query(request.args)
    except ValidationError as error:
        return render_template("admin/audit.html", query=audit.AuditQuery(), events=[], more=None,
                               errors=error.errors, choices=_choices()), 422
    events, more = audit.find(query)
    return render_template("admin/audit.html", query=query, events=_with_actors(events),
                           more=more, errors={}, choices=_choices())


def _addresses(ids: Any) -> dict[int, str]:
    """The address of each account among ``ids`` (a list, or a query of ids)."""
    return dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())


def _with_actors(events: Iterable[audit.EventView]) -> list[audit.EventView]:
    """The events with their actors' addresses (the log itself holds only their ids)."""
    events = list(events)
    addresses = _addresses({event.actor_id for event in events if event.actor_id is not None})
    return [dataclasses.replace(event, actor=addresses.get(event.actor_id)) for event in events]


def _choices() -> dict[str, Any]:
    """The filter's lists, with the actors as (id, address), by address."""
    offered = audit.choices()
    addresses = _addresses(offered.pop("actor_ids"))
    offered["actors"] = sorted(addresses.items(), key=lambda item: item[1])
    return offered
