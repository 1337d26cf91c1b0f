"""The campaign home page, and the icon browsers ask every site for."""

from flask import Blueprint, current_app, render_template, send_from_directory

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


@bp.get("/favicon.ico")
def favicon():
    """The site's icon where browsers and link previews look for it without a ``<link>``."""
    return send_from_directory(current_app.static_folder, "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=7 * 24 * 3600)
