"""JSON API v1: signing a petition (CONTRACT.md). A blueprint of its own under ``/api/v1``."""

from flask import Blueprint, jsonify
from flask_babel import gettext as _

from objectwar import tasks
from objectwar.api.body import json_body
from objectwar.api.query import query_locale
from objectwar.errors import GENERAL, ValidationError
from objectwar.extensions import csrf
from objectwar.http import public_cors, small_body
from objectwar.petitions import signing
from objectwar.ratelimit import sign_rate_limit

bp = Blueprint("api_signing", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # public: partner sites post here; no cookie is trusted

# What an accepted signature is until its email is confirmed (the answer's "status").
ACCEPTED_STATUS = "pending_confirmation"


@bp.post("/petitions/<slug>/signatures")
@small_body
@public_cors
@sign_rate_limit
def petition_sign(slug: str):
    """Sign: 202 for new and repeat signers alike; the email tells them apart."""
    message = _("Send a JSON object with the signature's fields.")
    request_locale = query_locale()
    body = json_body(message)
    if not isinstance(body, dict):
        raise ValidationError(errors={GENERAL: [message]})
    # The signer's own "locale" wins; the request's is worked out only without one.
    given = body.get("locale")
    outcome = signing.sign(slug, body, default_locale=given if given and isinstance(given, str)
                           else request_locale)
    tasks.enqueue_signature_confirmation(outcome.signature_id)
    return jsonify({"status": ACCEPTED_STATUS, "notices": outcome.notices}), 202
