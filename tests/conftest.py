"""Shared fixtures.

Database tests run once on SQLite and, when ``TEST_DATABASE_URL`` names a
PostgreSQL database, once more on PostgreSQL: the ``app`` fixture is
parametrised by backend. The schema is created once per backend and session;
every test starts from empty tables.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from objectwar import create_app
from objectwar.extensions import db as _db
from objectwar.extensions import limiter
from objectwar.extensions import mail as _mail

# Under pytest-xdist each worker process ("gw0", "gw1", ...) gets a PostgreSQL database
# and a Redis database of its own, so that workers never empty each other's tables or
# take each other's queued tasks.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else 0


def _worker_database(url: str) -> str:
    """The worker's own database beside ``url`` (``url`` itself outside xdist)."""
    if not url or not WORKER:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{WORKER}").render_as_string(hide_password=False)


def _worker_redis(url: str) -> str:
    """The worker's own Redis database number: the given one, counting down per worker."""
    if not url or not WORKER_INDEX:
        return url
    base, _, number = url.rpartition("/")
    if not number.isdigit():
        base, number = url.rstrip("/"), "0"
    return f"{base}/{(int(number) - WORKER_INDEX) % 16}"


PG_URL = _worker_database(os.environ.get("TEST_DATABASE_URL", "").strip())
REDIS_URL = _worker_redis(os.environ.get("REDIS_URL", "").strip())
if WORKER:  # what the tests' own subprocesses read
    for _name, _value in (("TEST_DATABASE_URL", PG_URL), ("REDIS_URL", REDIS_URL)):
        if _value:
            os.environ[_name] = _value

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs on SQLite only")
    if not hasattr(config, "workerinput"):  # xdist's workers start after the controller did it
        _compile_catalogs()


def _compile_catalogs() -> None:
    """Compile the .po catalogs whose .mo is missing or older (``make`` does it too)."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "objectwar" / "translations"
    for po_path in root.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with open(po_path, "rb") as handle:
            catalog = read_po(handle, locale=po_path.parent.parent.name)
        with open(mo_path, "wb") as handle:
            write_mo(handle, catalog, use_fuzzy=True)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An instance folder for the whole session (queue file, outbox, uploads)."""
    return str(tmp_path_factory.mktemp("instance"))


def _create_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names, afresh, on its server."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        # A commit need not wait for the disk: nothing here survives a crash of the
        # server anyway, and each test commits dozens of times.
        conn.execute(text(f'ALTER DATABASE "{parsed.database}" SET synchronous_commit = off'))
    admin.dispose()


def scratch_postgres(suffix: str = "migrations") -> str:
    """A new, empty PostgreSQL database beside the test database; its URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(PG_URL)
    url = parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)
    _create_database(url)
    return url


def _reset_schema(url: str) -> None:
    """Create every table from the models on an empty database."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        _db.drop_all()
        if url.startswith("postgresql"):
            with _db.engine.begin() as conn:  # also drop Alembic's table of a migration test
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        _db.create_all()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def database_urls(instance_dir: str) -> dict[str, str]:
    """Backend name -> URL of a database with the schema created."""
    urls = {"sqlite": "sqlite:///" + os.path.join(instance_dir, "test.db")}
    if PG_URL:
        if WORKER:
            _create_database(PG_URL)
        urls["postgresql"] = PG_URL
    for url in urls.values():
        _reset_schema(url)
    return urls


# Every sequence of the schema back to 1, as TRUNCATE ... RESTART IDENTITY would.
_RESTART_SEQUENCES = text(
    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
    "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace")


def _empty_tables() -> None:
    """Delete every row, children first, and restart the ids.

    DELETE rather than TRUNCATE: on PostgreSQL a TRUNCATE of every table makes new
    files for each and costs most of a second per test; a DELETE of the few rows a
    test wrote costs milliseconds.
    """
    tables = list(reversed(_db.metadata.sorted_tables))
    with _db.engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            conn.execute(_RESTART_SEQUENCES)


def make_app(url: str, instance_dir: str, **overrides) -> Flask:
    os.environ["INSTANCE_PATH"] = instance_dir
    settings = {"SQLALCHEMY_DATABASE_URI": url}
    settings.update(overrides)
    return create_app("testing", **settings)


LONG = ("browser", "slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``sqlite_only`` (browser journeys) run once, not once per backend;
    the long ones run first."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        if backend not in (None, "sqlite") and item.get_closest_marker("sqlite_only"):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    # The long tests (a browser, real processes) first: pytest-xdist's workers then
    # end on short ones and finish together, instead of one waiting for the other's
    # last page check. The order is stable, and no test depends on another's.
    keep.sort(key=lambda item: 0 if any(item.get_closest_marker(name) for name in LONG) else 1)
    items[:] = keep


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this run of the test: ``sqlite`` or ``postgresql``."""
    return request.param


@pytest.fixture
def app_overrides() -> dict:
    """Configuration a test module wants on top of the testing config (override it)."""
    return {}


@pytest.fixture
def app(backend: str, database_urls: dict[str, str], instance_dir: str,
        app_overrides: dict) -> Iterator[Flask]:
    """The application on this run's backend, with empty tables."""
    application = make_app(database_urls[backend], instance_dir, **app_overrides)
    with application.app_context():
        _empty_tables()
        limiter.reset()
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def pg_app(database_urls: dict[str, str], instance_dir: str, app_overrides: dict) -> Iterator[Flask]:
    """The application on PostgreSQL (concurrency tests); skipped without TEST_DATABASE_URL."""
    if "postgresql" not in database_urls:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL) for real concurrency")
    application = make_app(database_urls["postgresql"], instance_dir, **app_overrides)
    with application.app_context():
        _empty_tables()
        limiter.reset()
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app: Flask) -> Iterator:
    """The database inside an app context (for service tests)."""
    with app.app_context():
        yield _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def outbox(app: Flask) -> Iterator[list]:
    """Messages Flask-Mail sent (recorded, not delivered) during the test."""
    with _mail.record_messages() as messages:
        yield messages


@pytest.fixture
def demo(app: Flask) -> None:
    """The demo campaign (petition ``protect-objectors``, list ``updates``, organisations)."""
    from objectwar.demo import seed_demo

    with app.app_context():
        seed_demo()


# -- a real SMTP server --------------------------------------------------------


@dataclass
class SMTPServer:
    """An aiosmtpd server on loopback that keeps what it receives."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        with self.lock:
            self.envelopes.append(envelope)
            self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    def config(self) -> dict:
        """Flask-Mail settings that deliver to this server."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_SUPPRESS_SEND": False,
                "MAIL_USE_TLS": False, "MAIL_USE_SSL": False}


@pytest.fixture
def busy_cores() -> Iterator[int]:
    """Every core kept busy by a spinning process for the whole test (a loaded CI machine).

    Yields how many spinners run. They are plain processes at normal priority:
    the code under test competes with them for the CPU as it would with other jobs.
    """
    import subprocess
    import sys

    count = os.cpu_count() or 2
    # Each spins while its parent lives: a test run killed mid-test leaves no spinner behind.
    spin = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin, str(os.getpid())])
                for _ in range(count)]
    try:
        yield count
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def relay():
    """The mail-out tests' SMTP relay (tests/mailing_support.Relay); a module may define its own."""
    from tests.mailing_support import Relay

    server = Relay().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server on 127.0.0.1 for end-to-end mail tests."""
    server = SMTPServer("127.0.0.1", free_port())
    controller = Controller(server, hostname=server.host, port=server.port, enable_SMTPUTF8=True)
    controller.start()
    yield server
    controller.stop()


# -- a real browser ---------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    """Chromium from Debian's packages, driven by Playwright; skipped where it is absent."""
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over HTTP on a free loopback port (browser tests); yields its base URL."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


def raw_engine(url: str):
    """An engine that bypasses the models (to read rows as stored)."""
    return create_engine(url)


# -- organisations and accounts ------------------------------------------------------


@pytest.fixture
def people(app: Flask):
    """Organisations A and B (members), A's two users, B's user and open invitation, a coordinator."""
    from tests.factories import make_people

    with app.test_request_context():
        return make_people()


@pytest.fixture
def second_coordinator(app: Flask, people) -> int:
    """The id of a second active coordinator, beside ``people.coordinator``."""
    from tests.factories import (
        SECOND_COORDINATOR_EMAIL,
        SECOND_COORDINATOR_PASSWORD,
        add_coordinator,
    )

    with app.test_request_context():
        return add_coordinator(SECOND_COORDINATOR_EMAIL, SECOND_COORDINATOR_PASSWORD).id


@pytest.fixture
def audience(app: Flask, people) -> None:
    """Mail-outs' list ``updates``: 3 English speakers in Germany, 2 German speakers in France."""
    from tests.factories import add_subscribers, make_list

    with app.app_context():
        mailing_list = make_list(3)
        add_subscribers(mailing_list, range(3, 5), locale="de", country="FR")
        _db.session.commit()


@pytest.fixture
def auth(app: Flask, client: FlaskClient):
    """Logs ``client`` in: ``auth.coordinator()``, ``auth.member(org)``, ``auth.login(email, password)``."""
    from tests.helpers import AuthActions

    return AuthActions(app, client)
