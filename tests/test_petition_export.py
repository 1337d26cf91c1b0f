"""The handover export: confirmed signatures as streamed, formula-safe CSV, audited."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select, text

from objectwar import security
from objectwar.accounts.services import create_api_token
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.petitions import export, signing
from objectwar.petitions.models import Petition, Signature
from objectwar.types import UTCDateTime
from tests.helpers import csrf_token
from tests.signing_support import SLUG, person


@pytest.fixture
def confirmed(app, demo, people):
    """Three confirmed signers (one through org-a, one with a formula for a name) and one not."""
    with app.test_request_context("/"):
        for email, first, organisation, confirm in (
                ("anna@example.org", "Anna", "org-a", True),
                ("olha@example.org", "=HYPERLINK(\"http://x\")", None, True),
                ("ivan@example.org", "Иван", None, True),
                ("late@example.org", "Late", None, False)):
            outcome = signing.sign(SLUG, person(email=email, first_name=first,
                                                organisation=organisation), default_locale="en")
            if confirm:
                signature = _db.session.get(Signature, outcome.signature_id)
                signing.confirm(SLUG, signing.confirmation_token(signature))
        return create_api_token("coord@campaign.example", "export")


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())  # a byte order mark: spreadsheets read UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_api_streams_the_default_columns_formula_safe_and_audits(app, client, confirmed):
    answer = client.get(f"/api/v1/petitions/{SLUG}/signatures.csv",
                        headers={"Authorization": f"Bearer {confirmed}"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = read_csv(answer.data)
    assert rows[0] == list(export.DEFAULT_COLUMNS)
    assert [row[0] for row in rows[1:]] == ["Anna", "'=HYPERLINK(\"http://x\")", "Иван"]
    assert rows[1][3] == "org-a" and rows[2][3] == ""
    assert "anna@example.org" not in answer.get_data(as_text=True)  # no email unless named
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "petition.export"))
        assert event.details == {"columns": list(export.DEFAULT_COLUMNS), "rows": 3}


def test_the_email_column_only_when_named_and_bad_columns_are_refused(app, client, confirmed):
    headers = {"Authorization": f"Bearer {confirmed}"}
    answer = client.get(f"/api/v1/petitions/{SLUG}/signatures.csv?columns=email,country",
                        headers=headers)
    assert read_csv(answer.data)[1] == ["anna@example.org", "DE"]
    refused = client.get(f"/api/v1/petitions/{SLUG}/signatures.csv?columns=email,password",
                         headers=headers)
    assert refused.status_code == 422 and "columns" in refused.get_json()["errors"]
    with app.app_context():
        assert _db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "petition.export").offset(1)) is None  # one export only


def test_the_admin_asks_before_a_file_with_addresses(app, client, confirmed, people, auth):
    auth.coordinator()
    path = f"/admin/petitions/{SLUG}/export"
    token = csrf_token(client, path)
    plain = client.post(path, data={"csrf_token": token, "columns": ["first_name", "country"]})
    assert plain.mimetype == "text/csv" and read_csv(plain.data)[0] == ["first_name", "country"]
    asked = client.post(path, data={"csrf_token": token, "columns": ["first_name", "email"]})
    assert asked.mimetype == "text/html" and "email addresses of 3 people" in asked.get_data(as_text=True)
    sent = client.post(path, data={"csrf_token": token, "columns": ["first_name", "email"],
                                   "confirmed": "1"})
    assert read_csv(sent.data)[1] == ["Anna", "anna@example.org"]
    nothing = client.post(path, data={"csrf_token": token})
    assert nothing.status_code == 422 and 'id="columns-error"' in nothing.get_data(as_text=True)


@pytest.mark.slow
def test_two_hundred_thousand_rows_stream_in_flat_memory(app, demo):
    rows = 200_000
    with app.app_context():
        petition = _db.session.scalar(select(Petition).where(Petition.slug == SLUG))
        first, last = security.encrypt("Anna"), security.encrypt("Müller")
        _db.session.execute(text(
            "INSERT INTO signatures (petition_id, email_digest, email, first_name, last_name, "
            "country, locale, public_name, wants_updates, consent_version, created_at, "
            "confirmed_at, confirmation_sends) "
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows) "
            "SELECT :petition, 'd' || n, :email, :first, :last, 'DE', 'en', false, false, 'v', "
            ":at, :at, 1 FROM g").bindparams(bindparam("at", type_=UTCDateTime())),
            {"rows": rows, "petition": petition.id, "email": first, "first": first, "last": last,
             "at": datetime(2026, 11, 1, tzinfo=UTC)})
        petition.signature_count = rows
        _db.session.commit()
        stream = export.signatures_csv(petition, ["first_name", "last_name", "country"],
                                       actor_id=None)
        tracemalloc.start()
        lines = size = 0
        for chunk in stream:
            lines += chunk.count("\n")
            size += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert lines == rows + 1
    assert size > 3_000_000  # the file is megabytes...
    assert peak < 2_000_000, peak  # ...the process never held more than a few chunks of it
