"""The floor of a signing request: only the work the issue requires, in a bare Flask view.

``POST /sign`` does what every signature must, with the project's own functions
and nothing else: read the JSON body, validate it with the signing rules
(``signing.parse_signature``: names, email-validator, country, locale,
consent), compute the address digest, encrypt the three personal fields, run
the signature's INSERT as a prepared statement on a connection kept open in
autocommit, and queue the confirmation with Huey. ``POST /sign-no-queue`` is
the same without the queue.

No Flask-Limiter, no session, no locale choice, no CORS or security headers, no
SQLAlchemy: so the application's own ``POST /api/v1/petitions/<slug>/signatures``
cannot be faster than this, and its distance from this is what the framework
and the application add. Served by bench/sign.py on the same gunicorn settings.
"""

from __future__ import annotations

import threading

import psycopg
from flask import Flask, jsonify, request

from objectwar import security, tasks
from objectwar.petitions import signing
from objectwar.petitions.models import PetitionStatus
from objectwar.types import utcnow
from wsgi import app as project

app = Flask(__name__)
_local = threading.local()
ACCEPTED = {"status": "pending_confirmation", "notices": []}

with project.app_context():
    PETITION_ID = signing.petition_id_for("protect-objectors")
    DSN = project.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")


def connection() -> psycopg.Connection:
    if getattr(_local, "conn", None) is None:
        _local.conn = psycopg.connect(DSN, autocommit=True)
    return _local.conn


@app.get("/")
def ready():
    return "ok"


def _store(body: dict) -> int | None:
    given = signing.parse_signature(body, default_locale="en")
    now = utcnow()
    params = {
        "petition_id": PETITION_ID, "email_digest": security.email_digest(given.email),
        "email": security.encrypt(given.email), "first_name": security.encrypt(given.first_name),
        "last_name": security.encrypt(given.last_name), "country": given.country,
        "locale": given.locale, "public_name": given.public_name, "wants_updates": given.updates,
        "organisation_id": None, "consent_version": signing.CONSENT_VERSION, "created_at": now,
        "confirmation_due_at": now, "confirmation_sends": 0, "open": PetitionStatus.OPEN.value,
        "partner_consent": False, "partner_consent_version": None,
        "window_cutoff": now - signing.SEND_WINDOW, "max_sends": signing.MAX_SENDS_PER_DAY,
    }
    row = connection().execute(signing._PSYCOPG_INSERT, params, prepare=True).fetchone()
    return None if row is None else row[0]


@app.post("/sign")
def sign():
    with project.app_context():
        signature_id = _store(request.get_json())
        tasks.enqueue(tasks.send_signature_confirmation, signature_id)
    return jsonify(ACCEPTED), 202


@app.post("/sign-no-queue")
def sign_no_queue():
    with project.app_context():
        _store(request.get_json())
    return jsonify(ACCEPTED), 202
