"""Helpers shared by the domains' forms: services validate, forms show the messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf import FlaskForm
from jinja2 import pass_context
from jinja2.runtime import Context

from objectwar.errors import ValidationError

# (id of the field, its label or "", message): one line of a page's error summary.
Problem = tuple[str, str, str]


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


@pass_context
def form_problems(context: Context, errors: Mapping[str, Any] | None = None,
                  prefix: str = "", skip: tuple[str, ...] = ()) -> list[Problem]:
    """The field errors of the page's forms, for the error summary (macros/forms.html).

    Every WTForms form among the template's values counts; a page that checks its
    fields by hand passes its ``errors`` (field name -> messages) with the prefix of
    its inputs' ids (``skip``: names that are no field).
    """
    problems: list[Problem] = []
    seen: set[int] = set()
    for value in context.get_all().values():
        if not isinstance(value, FlaskForm) or id(value) in seen:
            continue
        seen.add(id(value))
        for field in value:
            if field.type == "CSRFTokenField" or not isinstance(field.errors, list | tuple):
                continue
            # A group of radio buttons is reached at its first button.
            target = f"{field.id}-0" if field.type == "RadioField" else field.id
            problems += [(target, str(field.label.text), str(message))
                         for message in field.errors if isinstance(message, str)]
    for name, messages in (errors or {}).items():
        if name in skip:
            continue
        problems += [(prefix + name, "", str(message)) for message in messages]
    return problems


def init_app(app: Flask) -> None:
    app.add_template_global(form_problems, "form_problems")
