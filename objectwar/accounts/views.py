"""``/account``: log in and out, reset a password, accept an invitation."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from objectwar import sessions
from objectwar.accounts import permissions, services, two_factor
from objectwar.accounts.forms import (
    ChangePasswordForm,
    LoginForm,
    ResetRequestForm,
    SetPasswordForm,
)
from objectwar.errors import ValidationError
from objectwar.forms import show_errors
from objectwar.http import small_body
from objectwar.i18n import current_locale
from objectwar.ratelimit import account_limit, client_key
from objectwar.tasks import enqueue_notices

bp = Blueprint("accounts", __name__, url_prefix="/account")


def default_page(user) -> str:
    if permissions.is_coordinator(user):
        return url_for("admin.organisations")
    if permissions.is_member(user):
        return url_for("members.overview")
    return url_for("main.home")


def _start_session(user) -> None:
    session.clear()  # nothing from before the login survives (session fixation)
    login_user(user)
    sessions.begin()


# The session of a login whose password was right and whose code is still to come:
# {"u": user id, "v": session version, "t": when (UNIX time), "n": the page to go to}.
# No ``_user_id``: it is not a login.
PENDING_LOGIN = "two_factor_login"


def _after_password(user, target: str | None):
    """The password was right: ask for the code first, or log in."""
    if user.has_two_factor:
        session.clear()
        session[PENDING_LOGIN] = {"u": user.id, "v": user.session_version,
                                  "t": int(time.time()), "n": target}
        return redirect(url_for("accounts.login_code"))
    return finish_login(user, target)


def finish_login(user, target: str | None):
    """Log ``user`` in and send them on (to set up two-factor login first, when they must)."""
    _start_session(user)
    if two_factor.must_enrol(user):
        flash(_("Coordinators log in with a second factor. Please set it up now: it takes a minute."))
        response = redirect(url_for("accounts.two_factor_setup"))
    else:
        response = redirect(target or default_page(user))
    _remember_device(response, user)
    return response


#: What a coordinator who must set up two-factor login can reach before that.
BEFORE_ENROLMENT = frozenset({"accounts.two_factor_setup", "accounts.logout",
                              "accounts.logout_everywhere", "static", "main.favicon"})


@bp.before_app_request
def enrolment_first():
    """A coordinator who must use two-factor login and has not set it up reaches only its set-up.

    API requests authenticate with tokens, not sessions, and are left alone.
    """
    if ("_user_id" not in session or request.endpoint in BEFORE_ENROLMENT
            or request.path.startswith("/api/")):
        return None
    if two_factor.must_enrol(current_user._get_current_object()):
        return redirect(url_for("accounts.two_factor_setup"))
    return None


def _remember_device(response, user) -> None:
    """Mark this browser as one its owner used: a stranger's failures do not lock it out."""
    response.set_cookie(services.DEVICE_COOKIE, services.device_token(user),
                        max_age=services.DEVICE_MAX_AGE, path=url_for("accounts.login"),
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True,
                        samesite="Lax")


@bp.route("/login", methods=["GET", "POST"])
@small_body
@account_limit
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(services.safe_next(form.next.data) or default_page(current_user))
    if form.validate_on_submit():
        try:
            services.check_login_input(form.email.data or "", form.password.data or "")
        except ValidationError as error:
            show_errors(form, error)
            return render_template("accounts/login.html", form=form), 422
        user = services.authenticate(form.email.data or "", form.password.data or "", client=client_key(),
                                     device=request.cookies.get(services.DEVICE_COOKIE))
        if user is not None:
            return _after_password(user, services.safe_next(form.next.data))
        form.form_errors.append(_("The email address or the password is not right, or there were "
                                  "too many attempts. Please wait a moment and try again."))
        return render_template("accounts/login.html", form=form), 422
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        services.end_sessions(current_user)
    logout_user()
    session.clear()
    flash(_("You are logged out."))
    return redirect(url_for("main.home"))


@bp.post("/logout-everywhere")
@permissions.user_required
def logout_everywhere():
    services.end_sessions(current_user)
    logout_user()
    session.clear()
    flash(_("You are logged out on every device."))
    return redirect(url_for("accounts.login"))


@bp.route("/password", methods=["GET", "POST"])
@permissions.user_required
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data or "", form.password.data or "",
                                     form.confirm.data or "", client=client_key())
        except ValidationError as error:
            show_errors(form, error)
            return render_template("accounts/password.html", form=form), 422
        _start_session(current_user._get_current_object())
        flash(_("Your password is changed. Other devices are logged out."))
        return redirect(default_page(current_user))
    return render_template("accounts/password.html", form=form)


@bp.route("/reset", methods=["GET", "POST"])
@account_limit
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        notice = services.request_password_reset(form.email.data or "", current_locale())
        enqueue_notices([notice])
        return render_template("accounts/reset_sent.html")
    return render_template("accounts/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@account_limit
def reset(token: str):
    user = services.user_for_reset_token(token)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data or "", form.confirm.data or "")
        except ValidationError as error:
            show_errors(form, error)
            return render_template("accounts/set_password.html", form=form, reset=True,
                                   username=user.email), 422
        logout_user()
        session.clear()
        flash(_("Your password is set. Please log in."))
        return redirect(url_for("accounts.login"))
    return render_template("accounts/set_password.html", form=form, reset=True, username=user.email)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@account_limit
def invitation(token: str):
    invited = services.invitation_for_token(token)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(token, form.password.data or "", form.confirm.data or "")
        except ValidationError as error:
            show_errors(form, error)
            return render_template("accounts/set_password.html", form=form, username=invited.email,
                                   organisation=invited.organisation, invitation=invited), 422
        _start_session(user)
        flash(_("Welcome! Your account is ready."))
        return redirect(default_page(user))
    return render_template("accounts/set_password.html", form=form, organisation=invited.organisation,
                           invitation=invited, username=invited.email)


# The two-factor pages are routes of this blueprint too: imported here, so that the
# blueprint is whole wherever it is registered.
from objectwar.accounts import two_factor_views  # noqa: E402, F401
