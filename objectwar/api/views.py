"""JSON API v1 (CONTRACT.md). Errors take the ``{"errors": {...}}`` shape."""

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from objectwar import tasks
from objectwar.errors import GENERAL, DomainError
from objectwar.extensions import csrf
from objectwar.http import public_cors
from objectwar.i18n import current_locale
from objectwar.petitions import services as petitions
from objectwar.petitions import signing
from objectwar.petitions.ratelimit import sign_rate_limit

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens and public endpoints; no cookies are trusted here


@bp.get("/petitions")
@public_cors
def petitions_list():
    locale = current_locale()
    return jsonify({
        "petitions": [petitions.petition_data(p, locale) for p in petitions.public_petitions()]
    })


@bp.get("/petitions/<slug>")
@public_cors
def petition_detail(slug: str):
    petition = petitions.get_public_petition(slug)
    return jsonify(petitions.petition_data(petition, current_locale()))


# -- signing (issue [2]) --


@bp.post("/petitions/<slug>/signatures")
@public_cors
@sign_rate_limit
def petition_sign(slug: str):
    """Sign (CONTRACT.md): 202 for new and repeat signers alike; the email tells them apart."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DomainError(errors={GENERAL: [_("Send a JSON object with the signature's fields.")]})
    outcome = signing.sign(slug, body, default_locale=current_locale())
    tasks.enqueue_signature_confirmation(outcome.signature_id)
    return jsonify({"status": "pending_confirmation", "notices": outcome.notices}), 202
