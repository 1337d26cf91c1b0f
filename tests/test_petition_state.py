"""A petition's state on PostgreSQL: kept per process, dropped by NOTIFY the moment it changes."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from objectwar.demo import seed_demo
from objectwar.extensions import db as _db
from objectwar.petitions import services, signing, state
from objectwar.petitions.models import Petition, PetitionStatus, Signature
from tests.signing_support import SLUG, person


def _outside(app) -> psycopg.Connection:
    """A connection of another process's kind: not through this app's engine."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _count(app) -> int:
    with app.test_request_context("/"):
        return services.get_public_petition(SLUG).signature_count


def _eventually(check, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def seeded(pg_app):
    with pg_app.app_context():
        seed_demo()
        assert state.wait_listening(_db.engine)
    return pg_app


def test_reads_of_an_unchanged_petition_touch_no_database(seeded):
    statements = []
    with seeded.app_context():
        listener = event.listens_for(_db.engine, "before_cursor_execute")(
            lambda *args: statements.append(args[2]))
        try:
            _count(seeded)
            statements.clear()
            for _ in range(20):
                assert _count(seeded) == 0
        finally:
            event.remove(_db.engine, "before_cursor_execute", listener)
    assert statements == []


def test_a_change_committed_elsewhere_arrives_by_notification(seeded):
    assert _count(seeded) == 0
    with _outside(seeded) as conn:
        conn.execute("UPDATE petitions SET signature_count = 41 WHERE slug = %s", (SLUG,))
    assert _eventually(lambda: _count(seeded) == 41)
    with _outside(seeded) as conn:
        conn.execute("UPDATE petitions SET status = 'closed' WHERE slug = %s", (SLUG,))
    with seeded.test_request_context("/"):
        assert _eventually(lambda: services.get_public_petition(SLUG).status == PetitionStatus.CLOSED)


def test_a_confirmation_in_this_process_counts_at_once(seeded):
    assert _count(seeded) == 0
    with seeded.test_request_context("/"):
        signing.sign(SLUG, person(), default_locale="en")
        row = _db.session.scalar(select(Signature))
        signing.confirm(SLUG, signing.confirmation_token(row))
    assert _count(seeded) == 1  # no waiting: this process dropped its copy at commit
    with seeded.app_context():
        _db.session.execute(update(Petition).values(goal=123))
        _db.session.commit()
    with seeded.test_request_context("/"):
        assert services.get_public_petition(SLUG).goal == 123


def test_a_lost_listener_means_reading_rows_until_it_is_back(seeded):
    assert _count(seeded) == 0
    with seeded.app_context():
        cache = state._cache(_db.engine)
        generation = cache._generation
    with _outside(seeded) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query = 'LISTEN petition_state' AND datname = current_database() "
            "AND pid <> pg_backend_pid()").fetchall()
        assert killed
        # Until the listener is back, every view reads the row: never a stale count.
        conn.execute("UPDATE petitions SET signature_count = 7 WHERE slug = %s", (SLUG,))
    assert _eventually(lambda: _count(seeded) == 7)
    assert _eventually(lambda: cache._generation > generation and cache._listening)
    with _outside(seeded) as conn:
        conn.execute("UPDATE petitions SET signature_count = 8 WHERE slug = %s", (SLUG,))
    assert _eventually(lambda: _count(seeded) == 8)


def test_the_trigger_exists_after_create_all(seeded):
    with seeded.app_context():
        names = _db.session.scalars(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'petitions'::regclass")).all()
    assert "petitions_state_notify" in names


def test_without_the_cache_every_view_reads_the_row(pg_app):
    pg_app.config["PETITION_STATE_CACHE"] = False
    statements = []
    with pg_app.app_context():
        seed_demo()
        listener = event.listens_for(_db.engine, "before_cursor_execute")(
            lambda *args: statements.append(args[2]))
        try:
            for _ in range(3):
                assert _count(pg_app) == 0
        finally:
            event.remove(_db.engine, "before_cursor_execute", listener)
        assert state._caches.get(_db.engine) is None  # no listener started
    assert sum("FROM petitions WHERE slug" in s for s in statements) == 3


def test_a_lost_notification_is_outlived_by_the_maximum_age(seeded, monkeypatch):
    """A change that notifies nobody (triggers off here) shows once the state is old."""
    monkeypatch.setattr(state, "MAX_AGE_SECONDS", 0.5)
    assert _count(seeded) == 0
    with _outside(seeded) as conn:
        conn.execute("SET session_replication_role = replica")  # no triggers, no NOTIFY
        conn.execute("UPDATE petitions SET signature_count = 5 WHERE slug = %s", (SLUG,))
    assert _count(seeded) == 0  # kept: nothing said it changed
    time.sleep(0.6)
    assert _count(seeded) == 5


def test_a_quiet_listener_probes_its_connection(pg_app, monkeypatch):
    monkeypatch.setattr(state, "PROBE_SECONDS", 0.2)
    with pg_app.app_context():
        seed_demo()
        assert state.wait_listening(_db.engine)
    with _outside(pg_app) as conn:
        def probed() -> bool:
            return conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query = 'SELECT 1' AND pid <> pg_backend_pid()").fetchone()[0] > 0
        assert _eventually(probed)


def test_a_transaction_whose_connection_died_still_ends(seeded):
    """The database restarts under an open transaction: the statement fails (a 503), and
    ending the session afterwards, as every request's teardown does, raises nothing more."""
    with seeded.app_context():
        backend = _db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        with _outside(seeded) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(OperationalError):
            _db.session.execute(text("SELECT 1"))
        _db.session.remove()
        assert _db.session.execute(text("SELECT 1")).scalar() == 1

