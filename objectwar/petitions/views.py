"""Public petition pages."""

from flask import Blueprint, render_template

from objectwar.i18n import current_locale
from objectwar.petitions import services

bp = Blueprint("petitions", __name__, url_prefix="/petitions")


@bp.get("/<slug>")
def detail(slug: str):
    petition = services.get_public_petition(slug)
    locale = current_locale()
    return render_template(
        "petitions/detail.html",
        petition=petition,
        text=petition.text_for(locale),
        locale=locale,
        progress=services.progress_percent(petition),
    )
