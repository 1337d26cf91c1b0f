"""``/account/login/code`` and ``/account/two-factor``: the second step of a login, and
setting up two-factor login (attached to the ``accounts`` blueprint); the rules are in
:mod:`objectwar.accounts.two_factor`."""

from __future__ import annotations

import time

from flask import (
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from objectwar.accounts import permissions, services, two_factor
from objectwar.accounts.forms import TwoFactorCodeForm, TwoFactorProofForm
from objectwar.accounts.views import PENDING_LOGIN, _start_session, bp, default_page, finish_login
from objectwar.errors import Conflict, ValidationError
from objectwar.forms import show_errors
from objectwar.http import small_body
from objectwar.ratelimit import account_limit, client_key

# The session's mark of the set-up it began (``two_factor.begin_enrolment``).
SETUP_MARK = "two_factor_setup"


def _pending_user():
    """The user of the login waiting for its code in this session, or ``None`` (none, or too old)."""
    pending = session.get(PENDING_LOGIN)
    if not isinstance(pending, dict) or not isinstance(pending.get("t"), int):
        return None
    if time.time() - pending["t"] > current_app.config["TWO_FACTOR_PENDING_SECONDS"]:
        return None
    return two_factor.pending_user(pending.get("u"), pending.get("v"))


@bp.route("/login/code", methods=["GET", "POST"])
@small_body
@account_limit
def login_code():
    """The second step of a login: a code from the app, or a recovery code."""
    user = _pending_user()
    if user is None:
        session.pop(PENDING_LOGIN, None)
        if current_user.is_authenticated:
            return redirect(default_page(current_user))
        flash(_("Please log in again: the time for the code has run out."))
        return redirect(url_for("accounts.login"))
    form = TwoFactorCodeForm()
    recovery = request.args.get("recovery") == "1"
    if recovery:
        form.code.label.text = _("Recovery code")
    if form.validate_on_submit():
        try:
            left = two_factor.complete_login(user, form.code.data or "", client=client_key(),
                                             device=request.cookies.get(services.DEVICE_COOKIE))
        except ValidationError as error:
            show_errors(form, error)
            return render_template("accounts/login_code.html", form=form, recovery=recovery), 422
        response = finish_login(user, services.safe_next(session[PENDING_LOGIN].get("n")))
        if left is not None:  # after the login: it starts a new session
            _flash_recovery_codes_left(left)
        return response
    return render_template("accounts/login_code.html", form=form, recovery=recovery)


def _flash_recovery_codes_left(left: int) -> None:
    flash(ngettext("You logged in with a recovery code. It will not work again: %(num)d code "
                   "is left.", "You logged in with a recovery code. It will not work again: "
                   "%(num)d codes are left.", left))
    if left <= 3:
        flash(_("Make new recovery codes soon, under Two-factor login."))


@bp.route("/two-factor", methods=["GET", "POST"])
@small_body
@account_limit
@permissions.user_required
def two_factor_setup():
    """Set up two-factor login (QR code, then a code to confirm), or see how it stands."""
    user = current_user._get_current_object()
    if user.has_two_factor:
        if request.method == "POST":
            return redirect(url_for("accounts.two_factor_setup"))
        return _status_page(user)
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.enable(user, form.code.data or "", session.get(SETUP_MARK))
        except ValidationError as error:
            show_errors(form, error)
            return _enrolment_page(user, user.totp_secret, form, 422)
        except Conflict as error:  # the set-up shown was not begun by this session: a new one
            show_errors(form, error)
            secret, session[SETUP_MARK] = two_factor.begin_enrolment(user, None)
            return _enrolment_page(user, secret, form, 409)
        session.pop(SETUP_MARK, None)
        _start_session(user)  # the others ended: they were made without the second factor
        return _recovery_codes_page(user, codes, first=True)
    secret, session[SETUP_MARK] = two_factor.begin_enrolment(user, session.get(SETUP_MARK))
    return _enrolment_page(user, secret, form)


@bp.post("/two-factor/recovery-codes")
@small_body
@account_limit
@permissions.user_required
def two_factor_recovery_codes():
    """New recovery codes in place of the old ones, after the password or a code."""
    user = current_user._get_current_object()
    if not user.has_two_factor:
        return redirect(url_for("accounts.two_factor_setup"))
    form = TwoFactorProofForm(prefix="renew")
    if form.validate_on_submit():
        try:
            codes = two_factor.regenerate_recovery_codes(user, form.proof.data or "",
                                                         client=client_key())
        except ValidationError as error:
            show_errors(form, error)
            return _status_page(user, renew=form, status=422)
        return _recovery_codes_page(user, codes, first=False)
    return redirect(url_for("accounts.two_factor_setup"))


@bp.post("/two-factor/disable")
@small_body
@account_limit
@permissions.user_required
def two_factor_disable():
    """Switch two-factor login off (not for coordinators while it is required)."""
    user = current_user._get_current_object()
    if not user.has_two_factor:
        return redirect(url_for("accounts.two_factor_setup"))
    form = TwoFactorProofForm(prefix="disable")
    if form.validate_on_submit():
        try:
            two_factor.disable(user, form.proof.data or "", client=client_key())
        except (ValidationError, Conflict) as error:
            show_errors(form, error)
            return _status_page(user, disable=form, status=error.status)
        flash(_("Two-factor login is off. You log in with your password alone."))
        return redirect(url_for("accounts.two_factor_setup"))
    return redirect(url_for("accounts.two_factor_setup"))


def _enrolment_page(user, secret: str, form: TwoFactorCodeForm, status: int = 200):
    """The QR code and the key (a page no cache keeps), and the form for the first code."""
    uri = two_factor.provisioning_uri(user, secret)
    response = make_response(render_template(
        "accounts/two_factor_setup.html", form=form, qr=two_factor.qr_svg(uri), uri=uri,
        secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
        required=two_factor.required_for(user)), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _status_page(user, renew=None, disable=None, status: int = 200):
    return render_template("accounts/two_factor.html", user=user,
                           left=two_factor.recovery_codes_left(user),
                           renew=renew or TwoFactorProofForm(prefix="renew"),
                           disable=disable or TwoFactorProofForm(prefix="disable"),
                           can_disable=two_factor.can_disable(user)), status


def _recovery_codes_page(user, codes: list[str], *, first: bool):
    """The recovery codes, this once: the page is not kept by the browser or any cache."""
    response = make_response(render_template("accounts/recovery_codes.html", codes=codes,
                                             first=first, next_page=default_page(user)))
    response.headers["Cache-Control"] = "no-store"
    return response
