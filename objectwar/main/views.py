"""The campaign home page."""

from flask import Blueprint, render_template

from objectwar.i18n import current_locale
from objectwar.organisations import services as organisations
from objectwar.petitions import services as petitions

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    return render_template(
        "main/home.html",
        petitions=petitions.public_petitions(only_open=True),
        organisations=organisations.listed_organisations(limit=24),
        organisation_count=organisations.count_listed_organisations(),
        locale=current_locale(),
        progress=petitions.progress_percent,
    )
