"""``/organisations``: the public directory, one profile, the application form, logos."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user

from objectwar.errors import ValidationError
from objectwar.forms import show_errors
from objectwar.i18n import current_locale
from objectwar.markup import plain_excerpt, render_markdown
from objectwar.organisations import services
from objectwar.organisations.forms import ApplyForm
from objectwar.ratelimit import apply_limit
from objectwar.tasks import enqueue_notices

bp = Blueprint("organisations", __name__, url_prefix="/organisations")


@bp.get("")
def directory():
    country = (request.args.get("country") or "").strip().upper()[:2] or None
    query = (request.args.get("q") or "").strip()[:100]
    return render_template(
        "organisations/directory.html",
        organisations=services.directory(country, query),
        countries=services.directory_countries(),
        country=country, query=query, excerpt=plain_excerpt,
    )


@bp.route("/apply", methods=["GET", "POST"])
@apply_limit
def apply():
    locale = current_locale()
    form = ApplyForm().set_countries(locale)
    if form.validate_on_submit():
        try:
            _organisation, notices = services.apply(form.data, locale)
        except ValidationError as error:
            show_errors(form, error)
            return render_template("organisations/apply.html", form=form), 422
        enqueue_notices(notices)
        return redirect(url_for(".applied"), code=303)  # a reload does not send it again
    return render_template("organisations/apply.html", form=form)


@bp.get("/apply/sent")
def applied():
    return render_template("organisations/applied.html")


@bp.get("/logos/<name>")
def logo(name: str):
    folder, mimetype = services.logo_file(name, current_user)
    response = send_from_directory(folder, name, mimetype=mimetype, max_age=86400)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/<slug>")
def profile(slug: str):
    organisation = services.get_listed(slug)
    return render_template("organisations/profile.html", organisation=organisation,
                           description=render_markdown(organisation.description))
