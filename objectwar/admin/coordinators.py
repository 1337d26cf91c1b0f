"""``/admin/coordinators``: coordinators invite, deactivate and reactivate each other
(attached to the ``admin`` blueprint); the rules are in :mod:`objectwar.accounts.coordinators`."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from objectwar.accounts import coordinators, permissions, two_factor
from objectwar.accounts.forms import InviteCoordinatorForm
from objectwar.accounts.services import invitation_max_age
from objectwar.admin.views import bp
from objectwar.errors import Conflict, ValidationError
from objectwar.forms import ConfirmForm, show_errors
from objectwar.i18n import LANGUAGE_NAMES, current_locale
from objectwar.tasks import enqueue_notices


def _index(form: InviteCoordinatorForm, status: int = 200):
    return render_template("admin/coordinators.html", form=form, confirm=ConfirmForm(),
                           coordinators=coordinators.coordinators(),
                           invitations=coordinators.open_invitations(),
                           days=invitation_max_age() // 86400), status


@bp.route("/coordinators", methods=["GET", "POST"])
@permissions.coordinator_required
def coordinators_index():
    """The coordinators, their open invitations and the form to invite one more."""
    form = InviteCoordinatorForm()
    form.locale.choices = list(LANGUAGE_NAMES.items())
    if not form.is_submitted():
        form.locale.data = current_locale()
    if form.validate_on_submit():
        try:
            notice = coordinators.invite_coordinator(current_user, form.email.data or "",
                                                     form.locale.data or "")
        except ValidationError as error:
            show_errors(form, error)
            return _index(form, 422)
        enqueue_notices([notice])
        flash(_("The invitation is on its way."))
        return redirect(url_for("admin.coordinators_index"))
    return _index(form)


def _confirm_page(action: str, user_id: int, change):
    """A change's confirmation page (GET) and the change itself (POST)."""
    coordinator = coordinators.get_coordinator(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            change(current_user, user_id)
        except Conflict as error:
            show_errors(form, error)
            return render_template("admin/coordinator_confirm.html", form=form, action=action,
                                   coordinator=coordinator), 409
        if action == "deactivate" and user_id == current_user.id:
            logout_user()  # the session is dead already; say so on a fresh one
            session.clear()
            flash(_("Your coordinator account is deactivated. You are logged out."))
            return redirect(url_for("accounts.login"))
        flash(_("The coordinator is deactivated.") if action == "deactivate"
              else _("The coordinator is active again."))
        return redirect(url_for("admin.coordinators_index"))
    return render_template("admin/coordinator_confirm.html", form=form, action=action,
                           coordinator=coordinator)


@bp.route("/coordinators/<int(max=2147483647):user_id>/deactivate", methods=["GET", "POST"])
@permissions.coordinator_required
def coordinator_deactivate(user_id: int):
    return _confirm_page("deactivate", user_id, coordinators.deactivate_coordinator)


@bp.route("/coordinators/<int(max=2147483647):user_id>/reactivate", methods=["GET", "POST"])
@permissions.coordinator_required
def coordinator_reactivate(user_id: int):
    return _confirm_page("reactivate", user_id, coordinators.reactivate_coordinator)


@bp.post("/coordinators/invitations/<int(max=2147483647):invitation_id>/revoke")
@permissions.coordinator_required
def coordinator_invitation_revoke(invitation_id: int):
    coordinators.revoke_coordinator_invitation(current_user, invitation_id)
    flash(_("The invitation is withdrawn."))
    return redirect(url_for("admin.coordinators_index"))


@bp.route("/coordinators/<int(max=2147483647):user_id>/reset-two-factor", methods=["GET", "POST"])
@permissions.coordinator_required
def coordinator_two_factor_reset(user_id: int):
    """Remove another coordinator's two-factor login (a lost phone), after a confirmation."""
    coordinator = coordinators.get_coordinator(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            two_factor.reset_by_coordinator(current_user, user_id)
        except Conflict as error:
            show_errors(form, error)
            return render_template("admin/coordinator_two_factor_reset.html", form=form,
                                   coordinator=coordinator), 409
        flash(_("Their two-factor login is reset and they are logged out. They set it up again "
                "when they next log in."))
        return redirect(url_for("admin.coordinators_index"))
    return render_template("admin/coordinator_two_factor_reset.html", form=form,
                           coordinator=coordinator)
