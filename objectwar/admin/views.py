"""``/admin``: coordinator pages (organisations here; later issues add lists and mail-outs)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from objectwar.accounts import permissions
from objectwar.errors import ValidationError
from objectwar.forms import ConfirmForm, show_errors
from objectwar.i18n import current_locale
from objectwar.markup import render_markdown
from objectwar.organisations import services as org_services
from objectwar.organisations.forms import ProfileForm, RejectForm
from objectwar.organisations.models import OrganisationStatus
from objectwar.organisations.services import Decision
from objectwar.tasks import enqueue_notices

bp = Blueprint("admin", __name__, url_prefix="/admin")

STATUS_LABELS = {
    OrganisationStatus.APPLIED: _l("applied"),
    OrganisationStatus.MEMBER: _l("member"),
    OrganisationStatus.SUSPENDED: _l("suspended"),
    OrganisationStatus.REJECTED: _l("rejected"),
}


@bp.context_processor
def status_labels():
    return {"status_labels": STATUS_LABELS}

DONE = {
    Decision.APPROVE: _l("The organisation is a member now; its contact is invited."),
    Decision.REJECT: _l("The application is rejected; the contact gets your message."),
    Decision.SUSPEND: _l("The organisation is suspended and no longer shown in public."),
    Decision.REINSTATE: _l("The organisation is a member again."),
}


@bp.get("/organisations")
@permissions.coordinator_required
def organisations():
    try:
        status = OrganisationStatus(request.args.get("status", OrganisationStatus.APPLIED))
    except ValueError:
        status = None
    return render_template("admin/organisations.html", status=status, statuses=list(OrganisationStatus),
                           organisations=org_services.organisations_by_status(status))


@bp.get("/organisations/<int(max=2147483647):organisation_id>")
@permissions.coordinator_required
def organisation(organisation_id: int):
    found = org_services.get_organisation(organisation_id)
    return render_template(
        "admin/organisation.html", organisation=found, form=ConfirmForm(), reject_form=RejectForm(),
        decisions=org_services.allowed_decisions(found), description=render_markdown(found.description),
    )


@bp.route("/organisations/<int(max=2147483647):organisation_id>/<any(approve, reject, suspend, reinstate):decision>",
          methods=["GET", "POST"])
@permissions.coordinator_required
def decide(organisation_id: int, decision: str):
    """A decision's confirmation page (GET) and the decision itself (POST)."""
    found = org_services.get_organisation(organisation_id)
    choice = Decision(decision)
    form = RejectForm() if choice == Decision.REJECT else ConfirmForm()
    if form.validate_on_submit():
        try:
            notices = org_services.decide(current_user, organisation_id, choice,
                                           message=getattr(form, "message", None) and form.message.data)
        except ValidationError as error:
            show_errors(form, error)
            return render_template("admin/decide.html", organisation=found, decision=choice,
                                   form=form), 422
        enqueue_notices(notices)
        flash(str(DONE[choice]))
        return redirect(url_for("admin.organisation", organisation_id=organisation_id))
    return render_template("admin/decide.html", organisation=found, decision=choice, form=form)


@bp.route("/organisations/<int(max=2147483647):organisation_id>/profile", methods=["GET", "POST"])
@permissions.coordinator_required
def organisation_profile(organisation_id: int):
    """Coordinators edit any organisation's public profile (audited like a member's edit)."""
    found = org_services.get_organisation(organisation_id)
    form = ProfileForm(obj=found).set_countries(current_locale())
    action = url_for("admin.organisation_profile", organisation_id=organisation_id)
    back = url_for("admin.organisation", organisation_id=organisation_id)
    if form.validate_on_submit():
        try:
            org_services.update_profile(current_user, found, form.data)
        except ValidationError as error:
            show_errors(form, error)
            return render_template("members/profile.html", form=form, organisation=found,
                                   action=action, back=back), 422
        flash(_("The profile is saved."))
        return redirect(back)
    return render_template("members/profile.html", form=form, organisation=found, action=action,
                           back=back)
