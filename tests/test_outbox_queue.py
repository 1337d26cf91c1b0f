"""The outbox with a real queue (not inline): rows first, then the worker sends and marks them."""

from __future__ import annotations

import pytest
from conftest import csrf_token
from sqlalchemy import select

from objectwar.extensions import db as _db
from objectwar.outbox.models import Notice


@pytest.fixture
def app_overrides(tmp_path):
    return {"TASKS_IMMEDIATE": False, "QUEUE_FILE": str(tmp_path / "queue.db")}


def test_request_only_writes_rows_and_queues_ids(client, app, outbox):
    from objectwar.tasks import huey

    token = csrf_token(client, "/organisations/apply")
    response = client.post("/organisations/apply", data={
        "csrf_token": token, "name": "Queue Test", "country": "PL", "contact_name": "Q",
        "contact_email": "q@queue.example", "reason": "Testing.", "consent": "y"})
    assert response.status_code == 200
    assert outbox == []  # nothing is sent inside the request
    with app.app_context():
        (notice,) = _db.session.scalars(select(Notice))
        assert notice.due_at is not None and notice.sent_at is None
    pending = huey.pending()
    assert [task.args for task in pending] == [(notice.id,)]
    # The worker runs the task: the mail goes out and the row says so.
    for task in pending:
        huey.execute(task)
    assert [m.recipients for m in outbox] == [["q@queue.example"]]
    with app.app_context():
        notice = _db.session.scalar(select(Notice))
        assert notice.sent_at is not None and notice.due_at is None
    # A lost or repeated queue message never sends twice.
    for task in pending:
        huey.execute(task)
    assert len(outbox) == 1
