"""``/admin/audit``: the audit log for coordinators (attached to the ``admin`` blueprint)."""

from __future__ import annotations

from flask import render_template, request

from objectwar.accounts import permissions
from objectwar.admin.views import bp
from objectwar.audit import services as audit
from objectwar.errors import ValidationError


@bp.get("/audit")
@permissions.coordinator_required
def audit_log():
    """Who did what, on what and when: filtered by actor, action, object and period, newest first."""
    try:
        query = audit.parse_query(request.args)
    except ValidationError as error:
        return render_template("admin/audit.html", query=audit.AuditQuery(), events=[], more=None,
                               errors=error.errors, choices=audit.choices()), 422
    events, more = audit.find(query)
    return render_template("admin/audit.html", query=query, events=events, more=more, errors={},
                           choices=audit.choices())
