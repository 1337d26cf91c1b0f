"""``/admin`` (the coordinator's dashboard) and ``/admin/petitions``: how the campaign goes.

Attached to the ``admin`` blueprint. Figures come from ``petitions.stats`` (SQL);
charts are SVG documents drawn on the server, shown as images, with the same
numbers in a table beside them.
"""

from __future__ import annotations

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from objectwar.accounts import permissions
from objectwar.admin.views import bp
from objectwar.audit.services import record
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.forms import ConfirmForm
from objectwar.http import csv_download, svg_image
from objectwar.mailing import list_admin
from objectwar.mailouts import compose, queries
from objectwar.mailouts import status as mailout_status
from objectwar.organisations import services as organisations
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions import (
    authoring,
    editor,
    export,
    moderation,
    petition_page,
    posters,
    services,
    stats,
)
from objectwar.petitions.models import PetitionStatus


@bp.get("/")
@permissions.coordinator_required
def dashboard():
    """The petitions with their counts, the lists and the latest mail-outs."""
    recent = [(m, compose.text_for(m, m.default_locale).subject, mailout_status.progress(m))
              for m in queries.recent_mailouts(limit=5)]
    return render_template("admin/dashboard.html", petitions=stats.overview(),
                           lists=list_admin.lists_with_counts(), mailouts=recent,
                           updates_growth=list_admin.growth("updates"))


@bp.get("/petitions")
@permissions.coordinator_required
def petitions_index():
    return render_template("admin/petitions.html", petitions=stats.overview(),
                           gaps=authoring.translation_gaps(current_app.config["LANGUAGES"]))


@bp.get("/petitions/<slug>")
@permissions.coordinator_required
def petition_stats(slug: str):
    petition = services.get_petition(slug)
    text = petition.text_for(petition.default_locale)
    numbers = stats.petition_stats(petition)
    return render_template("admin/petition_stats.html", petition=petition,
                           title=text.title if text else petition.slug, numbers=numbers,
                           organisation_names=stats.organisation_names(numbers["by_organisation"]),
                           most_by_country=max(numbers["by_country"].values(), default=0),
                           most_by_organisation=max(numbers["by_organisation"].values(), default=0),
                           members=organisations.organisations_by_status(OrganisationStatus.MEMBER))


def _poster_credit() -> Organisation | None:
    """The member organisation ``?org=`` names for a poster's credit (none when empty).

    :raise NotFound: a name that is not a member organisation's (a typing mistake
        must not print posters that credit nobody).
    """
    asked = request.args.get("org", "")
    if not asked:
        return None
    organisation = petition_page.credited_organisation(asked)
    if organisation is None:
        raise NotFound()
    return organisation


@bp.get("/petitions/<slug>/poster")
@permissions.coordinator_required
def petition_poster(slug: str):
    """The printable A4 poster (``?org=`` credit, ``?locale=``); a draft's too, for printing ahead."""
    petition = services.get_petition(slug)
    public = editor.preview(editor.from_petition(petition), petition)
    organisation = _poster_credit()
    locale = posters.poster_locale(request.args.get("locale"), petition.default_locale)
    credit = {"org": organisation.slug} if organisation else {}
    return posters.render_page(posters.poster(public, organisation, locale),
                               qr_endpoint="admin.petition_qr", slug=slug, **credit,
                               back_url=url_for("admin.petition_stats", slug=slug))


@bp.get("/petitions/<slug>/qr.<any(svg, png):kind>")
@permissions.coordinator_required
def petition_qr(slug: str, kind: str):
    """The QR code of the petition's address (``?org=`` credit), to download."""
    url = posters.petition_url(services.get_petition(slug).slug, _poster_credit())
    if kind == "svg":
        return svg_image(posters.qr_svg(url))
    return Response(posters.qr_png(url), mimetype="image/png")


@bp.get("/petitions/<slug>/days.svg")
@permissions.coordinator_required
def petition_day_chart(slug: str):
    """The per-day chart as an SVG image (its inline styles allowed in this document only)."""
    petition = services.get_petition(slug)
    svg = stats.day_chart(stats.by_day(petition.id), title=_("Signatures per day (UTC)"),
                          labels=(_("Signed"), _("Confirmed")))
    return svg_image(svg)


@bp.route("/petitions/<slug>/export", methods=["GET", "POST"])
@permissions.coordinator_required
def petition_export(slug: str):
    """Choose the columns of the handover export; the email column asks for a confirmation."""
    petition = services.get_petition(slug)
    if request.method == "GET":
        return _export_page(petition, list(export.DEFAULT_COLUMNS))
    chosen = request.form.getlist("columns")
    try:
        columns = export.parse_columns(chosen, default_when_none=False)
    except ValidationError as error:
        return _export_page(petition, chosen, errors=error.errors), 422
    if "email" in columns and request.form.get("confirmed") != "1":
        return _export_page(petition, columns, confirm_email=True)
    rows = export.signatures_csv(petition, columns, actor_id=current_user.id)
    return csv_download(rows, f"{slug}-signatures.csv")


def _export_page(petition, chosen: list[str], *, errors: dict | None = None,
                 confirm_email: bool = False):
    return render_template("admin/petition_export.html", petition=petition, chosen=chosen,
                           columns=list(export.COLUMNS), errors=errors or {},
                           confirm_email=confirm_email, form=ConfirmForm())


@bp.get("/petitions/<slug>/signers")
@permissions.coordinator_required
def petition_signers(slug: str):
    """The latest signers shown by name, each with its moderation links."""
    petition = services.get_petition(slug)
    return render_template("admin/petition_signers.html", petition=petition,
                           signers=moderation.public_signers(petition.id))


@bp.route("/petitions/<slug>/signers/<int(max=2147483647):signature_id>/<any(hide, delete):action>",
          methods=["GET", "POST"])
@permissions.coordinator_required
def petition_moderate(slug: str, signature_id: int, action: str):
    """The confirmation page (GET), and the moderation itself (POST)."""
    petition = services.get_petition(slug)
    signature = moderation.get_signature(petition, signature_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        moderation.moderate(petition, signature_id, moderation.Moderation(action),
                            actor_id=current_user.id)
        flash(_("The name is hidden from the public.") if action == "hide"
              else _("The signature is deleted; the count is adjusted."))
        return redirect(url_for("admin.petition_signers", slug=slug))
    return render_template("admin/petition_moderate.html", petition=petition,
                           signature=signature, action=action, form=form)


@bp.get("/petitions/<slug>/handover")
@permissions.coordinator_required
def petition_handover(slug: str):
    """The print-ready handover: the demands, the total, the countries, the public names."""
    petition = services.get_petition(slug)
    record("petition.handover_page", petition, actor_id=current_user.id)
    db.session.commit()
    locale, text = petition.default_locale, petition.text_for(petition.default_locale)
    demands = [(d.text_for(locale).title, d.text_for(locale).text) for d in petition.demands
               if d.text_for(locale) is not None]
    public = services.get_public_petition(slug) if petition.status != PetitionStatus.DRAFT else None
    return render_template(
        "admin/petition_handover.html", title=text.title if text else slug,
        summary=text.summary if text else "", demands=demands,
        total=petition.signature_count,
        countries=services.by_country(public) if public else {},
        names=export.public_names(petition.id))
