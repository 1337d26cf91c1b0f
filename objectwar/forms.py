"""Helpers shared by the domains' forms: services validate, forms show the messages."""

from __future__ import annotations

from flask_wtf import FlaskForm

from objectwar.errors import ValidationError


def show_errors(form: FlaskForm, error: ValidationError) -> None:
    """Put a service's field messages on the form's fields (others go to ``form.form_errors``)."""
    for name, messages in error.errors.items():
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(messages)


class ConfirmForm(FlaskForm):
    """A button and the CSRF token: the confirmation step of a destructive action."""
