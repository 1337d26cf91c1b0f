"""Coordinator API of mailing lists and mail-outs (CONTRACT.md), on the ``api`` blueprint."""

from __future__ import annotations

from flask import g, jsonify, request

from objectwar import tasks
from objectwar.api.auth import coordinator_required
from objectwar.api.body import json_body
from objectwar.api.views import bp
from objectwar.http import csv_download
from objectwar.mailing import list_admin, subscribers
from objectwar.mailouts import editing, queries, sweep
from objectwar.mailouts import status as mailout_status


@bp.get("/lists")
@coordinator_required
def lists_index():
    return jsonify({"lists": list_admin.lists_with_counts()})


@bp.post("/lists/<slug>/subscribers")
@coordinator_required
def list_import(slug: str):
    summary = subscribers.import_subscribers(slug, json_body(), actor_id=g.api_user.id,
                                       source=f"import by coordinator {g.api_user.id}")
    return jsonify(summary)


@bp.get("/lists/<slug>/subscribers.csv")
@coordinator_required
def list_export(slug: str):
    return csv_download(subscribers.export_csv(slug, actor_id=g.api_user.id), f"{slug}-subscribers.csv")


@bp.post("/mailouts")
@coordinator_required
def mailout_create():
    mailout = editing.create_mailout(json_body(), created_by=g.api_user)
    return jsonify(mailout_status.progress(mailout)), 201, {"Location": f"{bp.url_prefix}/mailouts/{mailout.id}"}


# Mail-outs: the path parameter is called {id}, as in CONTRACT.md and the OpenAPI document.
# GET and PUT share one rule: with a rule each, Werkzeug answers a PUT to an id beyond the
# converter's range with 405 ("GET allowed"), while that GET is a 404.
@bp.route("/mailouts/<int(max=2147483647):id>", methods=["GET", "PUT"])
@coordinator_required
def mailout_detail(id: int):
    """GET: the progress. PUT: replace a draft's or scheduled mail-out's fields (as to create
    one); 409 once sending began."""
    if request.method == "PUT":
        mailout = editing.update_mailout(id, json_body(), actor_id=g.api_user.id)
    else:
        mailout = queries.get_mailout(id)
    return jsonify(mailout_status.progress(mailout))


@bp.post("/mailouts/<int(max=2147483647):id>/duplicate")
@coordinator_required
def mailout_duplicate(id: int):
    """A new draft with the texts, list, audience and pace of any mail-out."""
    copy = editing.duplicate(id, created_by=g.api_user)
    return jsonify(mailout_status.progress(copy)), 201, {"Location": f"{bp.url_prefix}/mailouts/{copy.id}"}


@bp.post("/mailouts/<int(max=2147483647):id>/send")
@coordinator_required
def mailout_send(id: int):
    mailout = sweep.start_sending(id, actor_id=g.api_user.id)
    tasks.enqueue_mailout(mailout.id)
    return jsonify(mailout_status.progress(mailout)), 202


@bp.post("/mailouts/<int(max=2147483647):id>/pause")
@coordinator_required
def mailout_pause(id: int):
    return jsonify(mailout_status.progress(mailout_status.pause(id, actor_id=g.api_user.id))), 202


@bp.post("/mailouts/<int(max=2147483647):id>/cancel")
@coordinator_required
def mailout_cancel(id: int):
    return jsonify(mailout_status.progress(mailout_status.cancel(id, actor_id=g.api_user.id))), 202


@bp.post("/mailouts/<int(max=2147483647):id>/schedule")
@coordinator_required
def mailout_schedule(id: int):
    data = json_body()
    when = editing.parse_moment(data.get("scheduled_at") if isinstance(data, dict) else None)
    return jsonify(mailout_status.progress(editing.schedule(id, when, actor_id=g.api_user.id))), 202
