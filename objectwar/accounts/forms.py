"""Account forms: they carry fields and the CSRF token; services check the values."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"))
    password = PasswordField(_l("Password"))
    next = HiddenField()


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email address"))


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password (at least 12 characters)"))
    confirm = PasswordField(_l("The new password again"))


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(_l("Current password"))


class InviteCoordinatorForm(FlaskForm):
    email = EmailField(_l("Email address of the new coordinator"))
    locale = SelectField(_l("Language of the invitation"), validate_choice=False)


class TwoFactorCodeForm(FlaskForm):
    """A code from the authenticator app (set-up), or a recovery code too (login)."""

    code = StringField(_l("Code from your authenticator app"))


class TwoFactorProofForm(FlaskForm):
    """The password or a current code again, before a change to two-factor login."""

    proof = PasswordField(_l("Your password, or a current code from your app"))
