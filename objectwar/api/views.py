"""JSON API v1 (CONTRACT.md). Errors take the ``{"errors": {...}}`` shape."""

from flask import Blueprint, current_app, g, jsonify, request

from objectwar.api.auth import coordinator_required
from objectwar.api.body import json_body
from objectwar.api.query import query_country, query_locale
from objectwar.api.schemas import openapi_document
from objectwar.extensions import csrf
from objectwar.http import csv_download, public_cors
from objectwar.organisations import services as organisations
from objectwar.petitions import authoring, export, stats
from objectwar.petitions import services as petitions

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens and public endpoints; no cookies are trusted here


@bp.get("/petitions")
@public_cors
def petitions_list():
    locale = query_locale()
    return jsonify({
        "petitions": [petitions.petition_data(p, locale) for p in petitions.public_petitions()]
    })


@bp.post("/petitions")
@coordinator_required
def petition_create():
    petition = authoring.create_petition(json_body(), actor_id=g.api_user.id)
    return jsonify(petitions.petition_data(petition, petition.default_locale)), 201


@bp.patch("/petitions/<slug>")
@coordinator_required
def petition_update(slug: str):
    locale = query_locale()
    petition = authoring.update_petition(petitions.get_petition(slug), json_body(),
                                         actor_id=g.api_user.id)
    return jsonify(petitions.petition_data(petition, locale))


@bp.get("/petitions/<slug>")
@public_cors
def petition_detail(slug: str):
    locale = query_locale()
    body = petitions.petition_document(petitions.get_public_petition(slug), locale)
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/petitions/<slug>/stats")
@coordinator_required
def petition_stats(slug: str):
    return jsonify(stats.petition_stats(petitions.get_petition(slug)))


@bp.get("/petitions/<slug>/signatures.csv")
@coordinator_required
def petition_signatures_csv(slug: str):
    """The handover export, streamed (``?columns=``; the email column only when named)."""
    columns = export.parse_columns(request.args.get("columns"))
    rows = export.signatures_csv(petitions.get_petition(slug), columns, actor_id=g.api_user.id)
    return csv_download(rows, f"{slug}-signatures.csv")


@bp.get("/openapi.json")
@public_cors
def openapi():
    config = current_app.config
    return jsonify(openapi_document(config["PUBLIC_URL"], config["LANGUAGES"]))


# -- organisations --------------------------------------------------------------------


@bp.get("/organisations")
@public_cors
def organisations_list():
    """Listed member organisations (``?country=DE``); never contact data."""
    return jsonify({"organisations": [
        organisations.organisation_data(o) for o in organisations.directory(query_country())
    ]})
