"""JSON API v1 (CONTRACT.md). Errors take the ``{"errors": {...}}`` shape."""

from flask import Blueprint, jsonify

from objectwar.extensions import csrf
from objectwar.http import public_cors
from objectwar.i18n import current_locale
from objectwar.petitions import services as petitions

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
