"""A petition's state (status, goal, confirmed and erased counts): the read behind every public view.

The count must be exact after every confirmation, and the petition page and
its API are the busiest reads of the campaign. On SQLite each view reads the
one row. On PostgreSQL each web process keeps the states it has read and a
listener thread drops one the moment it changes: a trigger on ``petitions``
(see :data:`NOTIFY_DDL`) sends ``NOTIFY petition_state`` with the slug in the
same transaction as the change, and PostgreSQL delivers it when that
transaction commits. The counter stays the one in the row; this only spares
re-reading a row that has not changed.

The cache is used only while the listener is connected and has been since the
entry was read: a lost connection or a notification that arrives while a row
is being read means the next view reads the row again. A process that commits
a change to ``petitions`` drops its own entries at that commit; other
processes see the change when the notification arrives, about a millisecond
later. A quiet listener probes its connection every ``PROBE_SECONDS`` (with
TCP keepalives and a user timeout, a link that died silently is noticed), and
whatever happens no state is kept longer than ``MAX_AGE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from typing import Any

from sqlalchemy import DDL, Engine, event, text
from sqlalchemy.exc import PendingRollbackError

logger = logging.getLogger(__name__)

CHANNEL = "petition_state"
PROBE_SECONDS = 15.0
MAX_AGE_SECONDS = 30.0
# The listener's own connection: a dead peer is noticed within seconds, not hours.
_LISTENER_OPTIONS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                     "keepalives_count": 3, "tcp_user_timeout": 15000}
StateRow = tuple[int, str, int, int, int]  # (id, status, goal, signature_count, erased_count)
_STATE = text("SELECT id, status, goal, signature_count, erased_count FROM petitions "
              "WHERE slug = :slug")

#: The trigger that announces a change of a petition's public state (PostgreSQL).
#: The migration creates it; ``metadata.create_all`` too (tests), through :func:`attach_ddl`.
NOTIFY_DDL = (
    f"""
    CREATE OR REPLACE FUNCTION petition_state_notify() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('{CHANNEL}', OLD.slug);
        ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.goal IS DISTINCT FROM OLD.goal
              OR NEW.signature_count IS DISTINCT FROM OLD.signature_count
              OR NEW.erased_count IS DISTINCT FROM OLD.erased_count
              OR NEW.slug IS DISTINCT FROM OLD.slug THEN
            PERFORM pg_notify('{CHANNEL}', OLD.slug);
            IF NEW.slug IS DISTINCT FROM OLD.slug THEN
                PERFORM pg_notify('{CHANNEL}', NEW.slug);
            END IF;
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS petitions_state_notify ON petitions",
    "CREATE TRIGGER petitions_state_notify AFTER UPDATE OR DELETE ON petitions "
    "FOR EACH ROW EXECUTE FUNCTION petition_state_notify()",
)
def attach_ddl(table: Any) -> None:
    """Create the trigger whenever ``table`` (petitions) is created on PostgreSQL."""
    for statement in NOTIFY_DDL:
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


def _read_row(engine: Engine, slug: str) -> StateRow | None:
    # One statement in autocommit: no BEGIN and ROLLBACK round trips around it.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(_STATE, {"slug": slug}).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4])


class _Cache:
    """One process's petition states, kept while its listener says they are current."""

    RETRY_SECONDS = 1.0

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, StateRow]] = {}  # slug: (read at, state)
        self._version = 0  # changes seen so far (notifications, own commits)
        self._generation = 0  # listener connections so far
        self._warned = -1  # the generation whose loss was logged
        self._listening = False
        self._stopped = threading.Event()
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._listen, name="petition-state", daemon=True)
        self._thread.start()

    def read(self, engine: Engine, slug: str) -> StateRow | None:
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(slug) if self._listening else None
            seen = (self._generation, self._version, self._listening)
        if found is not None and now - found[0] < MAX_AGE_SECONDS:
            return found[1]
        row = _read_row(engine, slug)
        with self._lock:
            # Keep it only if nothing changed while it was read (and we listen).
            if row is not None and seen == (self._generation, self._version, True):
                self._entries[slug] = (now, row)
        return row

    def forget(self, slug: str | None = None) -> None:
        with self._lock:
            self._version += 1  # a row being read meanwhile is not kept
            if slug is None:
                self._entries.clear()
            else:
                self._entries.pop(slug, None)

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            self._listening = False
            self._entries.clear()

    def _listen(self) -> None:
        while not self._stopped.is_set():
            connection = None
            try:
                connection = self._connect()
                probed = time.monotonic()
                while not self._stopped.is_set():
                    # The timeout comes back every second to look at the stop flag.
                    for notice in connection.notifies(timeout=self.RETRY_SECONDS):
                        self.forget(notice.payload)
                    if time.monotonic() - probed >= PROBE_SECONDS:
                        connection.execute("SELECT 1")  # a dead link raises here
                        probed = time.monotonic()
            except Exception:  # noqa: BLE001 (whatever broke: stop caching, connect again)
                if not self._stopped.is_set() and self._generation > self._warned:
                    self._warned = self._generation  # once per lost connection
                    logger.warning("Petition state listener disconnected; reading rows meanwhile")
            finally:
                with self._lock:
                    self._listening = False
                    self._entries.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()
            self._stopped.wait(self.RETRY_SECONDS)

    def _connect(self) -> Any:
        import psycopg  # only the PostgreSQL path needs it

        engine = self._engine()
        if engine is None:
            self._stopped.set()
            raise RuntimeError("engine gone")
        # The engine's own connection arguments, plus keepalives: this connection
        # mostly waits, and a link that died silently must not look quiet.
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        connection = psycopg.connect(*cargs, **{**cparams, **_LISTENER_OPTIONS},
                                     autocommit=True)
        connection.execute(f"LISTEN {CHANNEL}")
        with self._lock:
            # Entries read before this moment may have missed a notification.
            self._entries.clear()
            self._generation += 1
            self._listening = True
        return connection

    def wait_listening(self, timeout: float = 5.0) -> bool:
        """Wait until the listener is connected (tests, warm-up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._listening:
                    return True
            time.sleep(0.01)
        return False


_caches: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()
_caches_lock = threading.Lock()


def _current(engine: Engine) -> _Cache | None:
    """This process's cache for ``engine`` (a forked process has none of its parent's)."""
    cache = _caches.get(engine)
    return cache if cache is not None and cache.pid == os.getpid() else None


def _cache(engine: Engine) -> _Cache | None:
    if engine.dialect.name != "postgresql":
        return None
    cache = _current(engine)
    if cache is None:
        with _caches_lock:
            cache = _current(engine)
            if cache is None:
                cache = _caches[engine] = _Cache(engine)
                _watch(engine)
    return cache


def _watch(engine: Engine) -> None:
    """Hook the engine once: a commit through it that wrote ``petitions`` drops this
    process's states at once, and ``engine.dispose()`` stops the listener."""
    if engine in _watched:
        return
    _watched.add(engine)
    event.listen(engine, "before_cursor_execute", _note_write)
    event.listen(engine, "commit", _after_write)
    event.listen(engine, "rollback", _after_write)
    event.listen(engine, "engine_disposed", _on_dispose)


def _note_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if statement.startswith(("UPDATE petitions", "DELETE FROM petitions", "TRUNCATE")):
        conn.info["objectwar.petitions_written"] = True


def _after_write(conn: Any) -> None:
    try:
        written = conn.info.pop("objectwar.petitions_written", False)
    except PendingRollbackError:
        # The database went away under the transaction: the rollback that ends it
        # (a request's teardown, after its 503) must not fail in turn. What it wrote
        # is unknown, so the states go.
        written = True
    if written:
        cache = _current(conn.engine)
        if cache is not None:
            cache.forget()


def _on_dispose(engine: Engine) -> None:
    with _caches_lock:
        cache = _current(engine)
        if cache is not None:
            del _caches[engine]
    if cache is not None:
        cache.stop()


def _after_fork_in_child() -> None:
    # The parent's listener threads do not exist here, and a lock one of them
    # held would never be released: start afresh.
    global _caches_lock
    _caches_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def read_state(engine: Engine, slug: str, *, cached: bool = True) -> StateRow | None:
    """``(id, status, goal, signature_count, erased_count)`` of the petition at ``slug``, or ``None``.

    ``cached=False`` reads the row every time (``PETITION_STATE_CACHE=0``).
    """
    cache = _cache(engine) if cached else None
    return _read_row(engine, slug) if cache is None else cache.read(engine, slug)


def wait_listening(engine: Engine, timeout: float = 5.0) -> bool:
    """Start this process's listener if needed and wait until it listens."""
    cache = _cache(engine)
    return cache is None or cache.wait_listening(timeout)
