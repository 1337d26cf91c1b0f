"""Account forms: they carry fields and the CSRF token; services check the values."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField


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
