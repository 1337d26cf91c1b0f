"""A backup restores, as docs/operations.md tells operators to make and restore it.

On PostgreSQL: a database of its own, migrated with the real migrations, gets a
confirmed signer through the services; ``pg_dump --format=custom`` and
``pg_restore`` copy it into a second new database; the app on the copy reads the
signer back with the same DATA_KEY, and cannot with another one.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess

import pytest
from cryptography.fernet import InvalidToken
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url

from objectwar import create_app, security
from objectwar.extensions import db as _db
from objectwar.petitions import signing
from objectwar.petitions.models import Petition, Signature
from tests.conftest import PG_URL
from tests.signing_support import SLUG, person

DATA_KEY = "restore-test-data-key"
SIGNER = {"first_name": "Алесь", "last_name": "Дзяржынскі-Ňovák", "email": "ales@example.org",
          "country": "LT", "updates": True}

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL) to restore a dump"),
    pytest.mark.skipif(not (shutil.which("pg_dump") and shutil.which("pg_restore")),
                       reason="needs pg_dump and pg_restore on PATH (apt-get install postgresql-client)"),
]


@pytest.fixture
def databases():
    """Two new, empty databases on the server of TEST_DATABASE_URL: (source, restored); dropped after."""
    server = make_url(PG_URL)
    suffix = secrets.token_hex(4)
    names = (f"restore_src_{suffix}", f"restore_dst_{suffix}")
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield tuple(server.set(database=name) for name in names)
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _libpq(url: URL) -> str:
    """The connection string pg_dump and pg_restore take (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _app(url: URL, tmp_path, data_key: str = DATA_KEY):
    return create_app("testing", SQLALCHEMY_DATABASE_URI=url.render_as_string(hide_password=False),
                      DATA_KEY=data_key, INSTANCE_PATH=str(tmp_path), PETITION_STATE_CACHE=False)


def _row_counts(url: URL) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: conn.scalar(select(func.count()).select_from(table(name)))
                    for name in inspect(conn).get_table_names()}
    finally:
        engine.dispose()


def test_pg_dump_and_pg_restore_into_a_new_database_keep_every_signer(databases, tmp_path, monkeypatch):
    from objectwar.demo import seed_demo

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    source, restored = databases
    original = _app(source, tmp_path)
    with original.test_request_context("/"):
        upgrade()  # flask db upgrade: the real migrations
        seed_demo()
        outcome = signing.sign(SLUG, person(**SIGNER), default_locale="en")
        signing.confirm(SLUG, signing.confirmation_token(_db.session.get(Signature, outcome.signature_id)))
        signing.sign(SLUG, person(email="unconfirmed@example.org"), default_locale="en")
        _db.session.remove()
        _db.engine.dispose()

    # What docs/operations.md says, word for word but for the connection strings.
    dump = tmp_path / "objectwar.dump"
    subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), _libpq(source)],
                   check=True, capture_output=True)
    subprocess.run(["pg_restore", "--exit-on-error", "--no-owner", "--dbname", _libpq(restored),
                    str(dump)], check=True, capture_output=True)

    counts = _row_counts(source)
    assert counts["signatures"] == 2 and counts["subscribers"] == 1
    assert _row_counts(restored) == counts

    copy = _app(restored, tmp_path)
    with copy.test_request_context("/"):
        upgrade()  # after a restore, as after any deployment: nothing to do at head
        signer = _db.session.scalar(select(Signature).where(
            Signature.email_digest == security.email_digest(SIGNER["email"])))
        assert signer is not None and signer.is_confirmed
        assert (signer.first_name, signer.last_name, signer.email, signer.country) == (
            SIGNER["first_name"], SIGNER["last_name"], SIGNER["email"], SIGNER["country"])
        petition = _db.session.scalar(select(Petition).where(Petition.slug == SLUG))
        assert petition.signature_count == 1
        assert _db.session.scalar(select(func.count()).select_from(Signature)) == 2
        _db.session.remove()
        _db.engine.dispose()

    # A dump without its DATA_KEY: the counts, never the people.
    stolen = _app(restored, tmp_path, data_key="somebody-elses-data-key")
    with stolen.app_context():
        raw = _db.session.execute(text("SELECT email, first_name, last_name FROM signatures")).all()
        assert not any(SIGNER["email"] in value or SIGNER["first_name"] in value
                       for row in raw for value in row)
        assert _db.session.scalar(select(Signature).where(
            Signature.email_digest == security.email_digest(SIGNER["email"]))) is None
        with pytest.raises(InvalidToken):
            _db.session.scalars(select(Signature)).all()
        _db.session.remove()
        _db.engine.dispose()
