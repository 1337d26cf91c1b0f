"""What a signature costs its request: the same statements for a first and a repeat signer."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import event, update

from objectwar import security
from objectwar.extensions import db as _db
from tests.signing_support import API_URL


def _statement(sql: Any) -> str:
    """A statement's text with its whitespace normalised (its values are all bound)."""
    return re.sub(r"\s+", " ", sql if isinstance(sql, str) else str(sql)).strip()


def _kind(statement: str) -> str:
    """``INSERT signatures``, ``SELECT petitions``...: what a failure message shows."""
    verb = statement.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:INTO|FROM|UPDATE)\s+\"?(\w+)", statement, re.I)
    return f"{verb} {table.group(1) if table else '?'}"


@contextlib.contextmanager
def _statements(engine) -> Iterator[list[str]]:
    """The statements run meanwhile: SQLAlchemy's (``before_cursor_execute``), and those
    run on psycopg's own connection, which bypass the engine's events (``signing._insert``)."""
    import psycopg

    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(_statement(statement))

    original = psycopg.Connection.execute

    def execute(self, query, params=None, **kwargs):
        seen.append(_statement(query))
        return original(self, query, params, **kwargs)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with mock.patch.object(psycopg.Connection, "execute", execute):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _set_row(app, email: str, **values) -> None:
    from objectwar.petitions.models import Signature

    with app.app_context():
        _db.session.execute(update(Signature).where(
            Signature.email_digest == security.email_digest(email)).values(**values))
        _db.session.commit()


@pytest.mark.parametrize("app_overrides", [{"TASKS_IMMEDIATE": False, "SIGN_MIN_FILL_SECONDS": 0}])
@pytest.mark.parametrize("way", ["api", "form"])
def test_a_repeat_signer_costs_the_request_the_same_statements_as_a_first_one(app, client, demo,
                                                                              way):
    """A repeat's answer took twice as long (a lookup and an UPDATE of its own): the
    request now runs the same statements for every signer; the worker tells them apart."""
    from objectwar import tasks
    from objectwar.types import utcnow
    from tests.signing_support import SIGN_URL as FORM_URL
    from tests.signing_support import SLUG, form_data, person

    with app.app_context():
        engine = _db.engine

    def measured(email: str) -> tuple[list[str], tuple]:
        if way == "form":
            page = client.get(f"/petitions/{SLUG}").get_data(as_text=True)  # not measured
        queued = tasks.huey.pending_count()
        with _statements(engine) as seen:
            if way == "form":
                answer = client.post(FORM_URL, data=form_data(page, email=email))
            else:
                answer = client.post(API_URL, json=person(email=email))
        headers = {key: value for key, value in answer.headers.items() if key != "Date"}
        # what the request did: statements, answer, emails queued
        return seen, (answer.status_code, answer.get_data(), headers,
                      tasks.huey.pending_count() - queued)

    tasks.huey.flush()
    measured("warm.up@example.org")  # the process looks the petition up once, for everyone
    first, first_answer = measured("anna@example.org")
    now = utcnow()
    repeats = {"repeat, its email still due": measured("ANNA@example.org")}
    _set_row(app, "anna@example.org", confirmation_due_at=None, confirmation_sends=1,
             confirmation_window_start=now, confirmation_sent_at=now)  # as the worker does
    repeats["repeat, unconfirmed"] = measured(" Anna@Example.org")
    _set_row(app, "anna@example.org", confirmation_due_at=None, confirmed_at=now)
    repeats["repeat, confirmed"] = measured("anna@EXAMPLE.org")
    _set_row(app, "anna@example.org", confirmation_due_at=None, confirmation_sends=3)
    repeats["repeat, over the day's emails"] = measured("anna@example.org")
    tasks.huey.flush()

    assert [_kind(statement) for statement in first] == ["INSERT signatures"]
    assert first_answer[-1] == 1  # its email queued
    for case, (statements, answer) in repeats.items():
        assert [_kind(s) for s in statements] == [_kind(s) for s in first], case
        assert statements == first, case
        assert answer == first_answer, case

