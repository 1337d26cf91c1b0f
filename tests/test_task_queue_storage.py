"""The task queue: its storage follows the configuration; tasks run in the bound app."""

import os

import pytest
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import select

from objectwar.audit.models import AuditEvent
from objectwar.extensions import db
from objectwar.tasks import app_task, huey
from tests.conftest import REDIS_URL, make_app


@app_task()
def record_event(action: str) -> None:
    """A task of the tests: leaves a row behind, so that running it shows."""
    from objectwar.audit.services import record

    record(action, target_type="test")
    db.session.commit()


def _events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action)))


def test_immediate_mode_runs_tasks_inline(app):
    assert huey.immediate
    record_event("inline")
    assert _events(app) == ["inline"]


def _round_trip(app) -> None:
    """Enqueue, check it waits in storage, then dequeue and run it as a worker would."""
    huey.flush()
    record_event("queued")
    assert huey.pending_count() == 1
    assert _events(app) == []
    task = huey.dequeue()
    huey.execute(task)
    assert _events(app) == ["queued"]
    assert huey.pending_count() == 0


def test_sqlite_queue_file_by_default(database_urls, instance_dir):
    app = make_app(database_urls["sqlite"], instance_dir, TASKS_IMMEDIATE=False)
    with app.app_context():
        db.session.execute(AuditEvent.__table__.delete())
        db.session.commit()
    assert isinstance(huey.storage, SqliteStorage)
    assert huey.storage.filename == os.path.join(instance_dir, "queue.db")
    _round_trip(app)


def test_redis_queue_with_redis_url(database_urls, instance_dir):
    if not REDIS_URL:
        pytest.skip("needs REDIS_URL (Redis)")
    app = make_app(database_urls["sqlite"], instance_dir, TASKS_IMMEDIATE=False, REDIS_URL=REDIS_URL)
    with app.app_context():
        db.session.execute(AuditEvent.__table__.delete())
        db.session.commit()
    assert isinstance(huey.storage, RedisStorage)
    _round_trip(app)


def test_immediate_mode_keeps_nothing_in_storage(app):
    assert isinstance(huey.storage, MemoryStorage)
