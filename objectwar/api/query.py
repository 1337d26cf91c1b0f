"""Reading a JSON API request's query string: a parameter given must be valid (422)."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _

from objectwar.errors import ValidationError
from objectwar.i18n import current_locale


def query_locale() -> str:
    """The locale of the answer: ``?lang=`` (one of ``LANGUAGES``), else Accept-Language.

    :raise ValidationError: ``?lang=`` names no language offered.
    """
    if "lang" in request.args and request.args["lang"] not in current_app.config["LANGUAGES"]:
        raise ValidationError(errors={"lang": [_("Choose one of the languages offered.")]})
    return current_locale()


def query_country() -> str | None:
    """``?country=``: two letters, any case (upper-cased); ``None`` when not given.

    :raise ValidationError: anything but two letters.
    """
    if "country" not in request.args:
        return None
    code = request.args["country"]
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise ValidationError(errors={"country": [_("Give a country as its two-letter code.")]})
    return code.upper()
