"""A database that goes away while a message is on the wire: the worker waits for it to
record the sending, so the claim does not lapse and send the message a second time.
PostgreSQL: its backends are really ended."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from aiosmtpd.controller import Controller
from conftest import SMTPServer, free_port
from sqlalchemy import select
from sqlalchemy.engine import make_url

from objectwar.demo import seed_demo
from objectwar.extensions import db as _db
from objectwar.petitions import signing
from objectwar.petitions.models import Signature
from tests.signing_support import SLUG, person


@dataclass
class DroppingServer(SMTPServer):
    """Takes each message, then ends every connection of the app to its database."""

    database: str = ""
    answer: str | None = None  # what to answer instead of taking the message

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        answer = self.answer or await super().handle_DATA(server, session, envelope)
        with psycopg.connect(self.database, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                         "current_database() AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%'")
        return answer


@pytest.fixture
def dropping(database_urls):
    if "postgresql" not in database_urls:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL) to end the app's connections")
    url = make_url(database_urls["postgresql"]).set(drivername="postgresql")
    server = DroppingServer("127.0.0.1", free_port(), database=url.render_as_string(hide_password=False))
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def app_overrides(dropping):
    return dropping.config()


def test_a_confirmation_sent_while_the_database_drops_is_recorded_once(pg_app, dropping):
    with pg_app.test_request_context("/"):
        seed_demo()
        signature_id = signing.sign(SLUG, person(), default_locale="en").signature_id
        assert signing.send_confirmation(signature_id) is True  # recorded on a new connection
        _db.session.remove()
        row = _db.session.scalar(select(Signature).where(Signature.id == signature_id))
        assert row.confirmation_sent_at is not None and row.confirmation_due_at is None
        assert row.claim_token is None and row.confirmation_sends == 1
        assert signing.send_confirmation(signature_id) is False  # nothing left to send
    assert len(dropping.messages) == 1


def test_a_confirmation_that_fails_while_the_database_drops_ends_its_claim(pg_app, dropping):
    """The relay says "try later" and the database goes at the same moment: the failure is
    recorded once it is back, so the next try follows the retry rule, not the lease."""
    from objectwar.mail.message import SendError

    dropping.answer = "451 4.3.0 try again later"
    with pg_app.test_request_context("/"):
        seed_demo()
        signature_id = signing.sign(SLUG, person(), default_locale="en").signature_id
        with pytest.raises(SendError):
            signing.send_confirmation(signature_id)
        _db.session.remove()
        row = _db.session.scalar(select(Signature).where(Signature.id == signature_id))
        assert row.claim_token is None and row.confirmation_failures == 1
        assert row.confirmation_due_at is not None and row.confirmation_sent_at is None
    assert dropping.messages == []
