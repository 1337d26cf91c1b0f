"""``/my-data``: ask by email for a copy or the erasure of one's data, and the links in that email."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, render_template
from flask_babel import format_datetime
from flask_babel import gettext as _

from objectwar import tasks
from objectwar.errors import ValidationError
from objectwar.forms import show_errors
from objectwar.http import small_body
from objectwar.i18n import current_locale
from objectwar.mailing import subscriptions
from objectwar.privacy import services
from objectwar.privacy.forms import DataRequestForm
from objectwar.ratelimit import data_request_limit

bp = Blueprint("privacy", __name__)


@bp.context_processor
def labels():
    return {"subscription_labels": subscriptions.SUBSCRIPTION_LABELS}


@bp.app_template_filter("iso_datetime")
def iso_datetime(value: str | None) -> str:
    """A time held as ISO 8601 text (the export's JSON values), in the visitor's language."""
    return format_datetime(datetime.fromisoformat(value), "medium") if value else ""


NO_STORE = {"Cache-Control": "no-store"}


def _hints() -> dict[str, str]:
    return {
        "export": _("We email you a link to a page that shows everything we hold for your address, "
                    "with a download."),
        "erase": _("We email you a link to a page with one button that erases your signatures "
                   "and your subscriptions."),
    }


@bp.route("/my-data", methods=["GET", "POST"])
@small_body
@data_request_limit
def request_form():
    """The same answer whether or not the address is known: the email says what is held."""
    form = DataRequestForm()
    if form.validate_on_submit():
        try:
            notice = services.request_data(form.email.data, form.action.data, current_locale())
        except ValidationError as error:
            show_errors(form, error)
            return render_template("privacy/request.html", form=form, hints=_hints()), 422
        tasks.enqueue_notices([notice])  # none when the address's budget is spent: same page
        return render_template("privacy/requested.html")
    return render_template("privacy/request.html", form=form, hints=_hints())


@bp.get("/my-data/<token>")
def show(token: str):
    """An export link shows the data; an erase link shows it with one button (a GET changes nothing)."""
    digest, action = services.read_link(token)
    template = "privacy/export.html" if action == services.DataAction.EXPORT else "privacy/erase.html"
    return render_template(template, held=services.export(digest), token=token), NO_STORE


@bp.get("/my-data/<token>/data.json")
def download(token: str):
    digest = services.read_export_link(token)
    response = current_app.json.response(services.export(digest))
    response.headers.update(NO_STORE)
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


@bp.post("/my-data/<token>")
def erase(token: str):
    services.erase(token)
    return render_template("privacy/erased.html"), NO_STORE
