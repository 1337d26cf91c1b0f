"""``/my/organisation``: a member's own organisation (profile, logo, colleagues, results)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from objectwar.accounts import permissions
from objectwar.accounts import services as accounts
from objectwar.errors import ValidationError
from objectwar.forms import ConfirmForm, show_errors
from objectwar.http import csv_download, svg_image
from objectwar.i18n import current_locale
from objectwar.organisations import services
from objectwar.organisations.forms import InviteForm, LogoForm, ProfileForm
from objectwar.petitions import export, posters, stats
from objectwar.petitions import services as petition_services
from objectwar.tasks import enqueue_notices

bp = Blueprint("members", __name__, url_prefix="/my/organisation")


def _mine():
    organisation = current_user.organisation
    permissions.require(permissions.can_edit_organisation(current_user, organisation))
    return organisation


@bp.get("")
@permissions.member_required
def overview():
    organisation = _mine()
    credits = [(petition, count, services.share_links(organisation, petition),
                stats.partner_by_country(petition.id, organisation.id))
               for petition, count in services.credited_signatures(organisation)]
    return render_template("members/overview.html", organisation=organisation, credits=credits,
                           locale=current_locale())


@bp.get("/petitions/<slug>/days.svg")
@permissions.member_required
def day_chart(slug: str):
    """The organisation's signatures per day on one petition, as an SVG image."""
    organisation = _mine()
    petition = petition_services.get_public_petition(slug)
    svg = stats.day_chart(stats.by_day(petition.id, organisation.id),
                          title=_("Signatures through %(name)s per day (UTC)", name=organisation.name),
                          labels=(_("Signed"), _("Confirmed")))
    return svg_image(svg)


@bp.get("/petitions/<slug>/poster")
@permissions.member_required
def poster(slug: str):
    """A printable A4 poster whose QR code credits the organisation (``?locale=``)."""
    organisation = _mine()
    petition = petition_services.get_public_petition(slug)
    locale = posters.poster_locale(request.args.get("locale"), current_locale())
    return posters.render_page(posters.poster(petition, organisation, locale),
                               qr_endpoint="members.qr", slug=slug,
                               back_url=url_for("members.overview"))


@bp.get("/petitions/<slug>/qr.<any(svg, png):kind>")
@permissions.member_required
def qr(slug: str, kind: str):
    """The QR code of the petition's address with the organisation's credit, to download."""
    organisation = _mine()
    url = posters.petition_url(petition_services.get_public_petition(slug).slug, organisation)
    if kind == "svg":
        return svg_image(posters.qr_svg(url))
    return Response(posters.qr_png(url), mimetype="image/png")


@bp.get("/signatures.csv")
@permissions.member_required
def signatures_csv():
    """The signers credited to the organisation who agreed that it may contact them."""
    organisation = _mine()
    rows = export.partner_csv(organisation, actor_id=current_user.id)
    return csv_download(rows, f"{organisation.slug}-contacts.csv")


@bp.route("/profile", methods=["GET", "POST"])
@permissions.member_required
def profile():
    organisation = _mine()
    form = ProfileForm(obj=organisation).set_countries(current_locale())
    if form.validate_on_submit():
        try:
            services.update_profile(current_user, organisation, form.data)
        except ValidationError as error:
            show_errors(form, error)
            return render_template("members/profile.html", form=form, organisation=organisation), 422
        flash(_("The profile is saved."))
        return redirect(url_for("members.overview"))
    return render_template("members/profile.html", form=form, organisation=organisation)


@bp.route("/logo", methods=["GET", "POST"])
@permissions.member_required
def logo():
    organisation = _mine()
    form = LogoForm()
    if form.validate_on_submit():
        upload = form.logo.data
        try:
            services.save_logo(current_user, organisation,
                               upload.read(services.MAX_LOGO_BYTES + 1) if upload else b"")
        except ValidationError as error:
            show_errors(form, error)
            return render_template("members/logo.html", form=form, organisation=organisation), 422
        flash(_("The logo is saved."))
        return redirect(url_for("members.overview"))
    return render_template("members/logo.html", form=form, organisation=organisation)


@bp.route("/colleagues", methods=["GET", "POST"])
@permissions.member_required
def colleagues():
    organisation = _mine()
    permissions.require(permissions.can_manage_colleagues(current_user, organisation))
    form = InviteForm()
    status = 200
    if form.validate_on_submit():
        try:
            notice = accounts.invite_colleague(current_user, organisation, form.email.data or "",
                                               current_locale())
        except ValidationError as error:
            show_errors(form, error)
            status = 422
        else:
            enqueue_notices([notice])
            flash(_("If this address has no account yet, an invitation is on its way."))
            return redirect(url_for("members.colleagues"))
    return render_template(
        "members/colleagues.html", form=form, organisation=organisation, confirm=ConfirmForm(),
        users=accounts.colleagues(organisation), invitations=accounts.open_invitations(organisation),
    ), status


@bp.route("/colleagues/<int(max=2147483647):user_id>/remove", methods=["GET", "POST"])
@permissions.member_required
def remove_colleague(user_id: int):
    organisation = _mine()
    permissions.require(permissions.can_manage_colleagues(current_user, organisation))
    colleague = accounts.get_colleague(organisation, user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        accounts.remove_colleague(current_user, organisation, user_id)
        flash(_("The colleague's account is removed."))
        return redirect(url_for("members.colleagues"))
    return render_template("members/remove_colleague.html", form=form, colleague=colleague)


@bp.post("/invitations/<int(max=2147483647):invitation_id>/revoke")
@permissions.member_required
def revoke_invitation(invitation_id: int):
    organisation = _mine()
    permissions.require(permissions.can_manage_colleagues(current_user, organisation))
    accounts.revoke_invitation(current_user, organisation, invitation_id)
    flash(_("The invitation is withdrawn."))
    return redirect(url_for("members.colleagues"))
