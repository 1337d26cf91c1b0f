"""Rules for the values every domain takes in: names, addresses, countries, locales.

Each function returns the cleaned value or raises :class:`ValidationError`
with the message under the given field, so forms and the API share one rule.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import email_validator
from babel import Locale
from flask import current_app
from flask_babel import gettext as _

from objectwar.errors import ValidationError

# Bidirectional overrides and isolates can make a name display as something else.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Unicode's control characters (category Cc; every one of them is below U+0100).
CONTROL_CHARACTERS = frozenset(ch for ch in map(chr, range(0x100))
                               if unicodedata.category(ch) == "Cc")

# Babel's two-letter territories that are not countries of ISO 3166-1 (the EU,
# the eurozone, the UN, "outlying Oceania", pseudo-locales, "unknown").
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})

_COUNTRIES = frozenset(
    code for code in Locale("en").territories
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
)


def fail(field: str, message: str) -> ValidationError:
    return ValidationError(errors={field: [message]})


def clean_name(value: str | None, field: str, max_length: int = 100) -> str:
    """A person's or organisation's name: trimmed, NFC, 1..max characters, printable."""
    if value is not None and not isinstance(value, str):  # JSON: a number, a list...
        raise fail(field, _("This field must be text."))
    # The length as sent (surrounding spaces included), as a JSON schema's maxLength counts it.
    if len(value or "") > max_length:
        raise fail(field, _("Use at most %(n)d characters.", n=max_length))
    text = unicodedata.normalize("NFC", value or "").strip()
    if not text:
        raise fail(field, _("This field is required."))
    if len(text) > max_length:
        raise fail(field, _("Use at most %(n)d characters.", n=max_length))
    if any(ch in CONTROL_CHARACTERS or ch in BIDI_CONTROLS for ch in text):
        raise fail(field, _("Remove the control characters from this field."))
    return text


def validate_email(value: str | None, field: str = "email") -> str:
    """A syntactically valid address (internationalised ones included); no DNS look-up."""
    if value is not None and not isinstance(value, str):
        raise fail(field, _("This field must be text."))
    text = unicodedata.normalize("NFC", value or "").strip()
    if not text:
        raise fail(field, _("This field is required."))
    if len(text) > 254:
        raise fail(field, _("This email address is too long."))
    try:
        result = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise fail(field, _("This does not look like an email address.")) from None
    return result.normalized


def validate_country(value: str | None, field: str = "country", *, exact: bool = False) -> str:
    """An ISO 3166-1 alpha-2 code; ``exact``: as written (JSON), else any case and spacing."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in _COUNTRIES or (exact and code != value):
        raise fail(field, _("Choose a country from the list."))
    return code


def validate_locale(value: str | None, field: str = "locale", *, exact: bool = False) -> str:
    """One of ``LANGUAGES``; ``exact``: as written (JSON), else any case and spacing."""
    code = value.strip().lower() if isinstance(value, str) else ""
    if code not in current_app.config["LANGUAGES"] or (exact and code != value):
        raise fail(field, _("Choose one of the languages offered."))
    return code


def country_codes() -> list[str]:
    """Every ISO 3166-1 alpha-2 code a country field takes, sorted."""
    return sorted(_COUNTRIES)


@functools.cache
def country_choices(locale: str) -> tuple[tuple[str, str], ...]:
    """``(code, name)`` of every country, named and sorted in ``locale`` (computed once)."""
    names = Locale.parse(locale).territories
    return tuple(sorted(((code, names.get(code, code)) for code in _COUNTRIES),
                        key=lambda item: item[1]))


SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")


def is_slug(value: Any) -> bool:
    """Whether ``value`` can be a slug at all (checked before it reaches a query)."""
    return isinstance(value, str) and SLUG.fullmatch(value) is not None


def collect(errors: list[ValidationError], rule: Any, *args: Any) -> Any:
    """Apply one rule; keep its error in ``errors`` (to report every field at once)."""
    try:
        return rule(*args)
    except ValidationError as error:
        errors.append(error)
        return None


def merge(errors: list[ValidationError]) -> ValidationError:
    """Combine several field errors into one."""
    combined: dict[str, list[str]] = {}
    for error in errors:
        for field, messages in error.errors.items():
            combined.setdefault(field, []).extend(messages)
    return ValidationError(errors=combined)


# -- organisations and accounts -------------------------------------------------


def validate_url(value: str | None, field: str = "website", required: bool = False,
                 max_length: int = 500) -> str | None:
    """An absolute ``http``/``https`` address with a host, or ``None`` when empty and optional."""
    from urllib.parse import urlsplit

    text = (value or "").strip()
    if not text:
        if required:
            raise fail(field, _("This field is required."))
        return None
    if len(text) > max_length:
        raise fail(field, _("Use at most %(n)d characters.", n=max_length))
    if any(ch in BIDI_CONTROLS for ch in text):  # shown as link text, they would reorder it
        raise fail(field, _("Remove the control characters from this field."))
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if (parts is None or parts.scheme.lower() not in {"http", "https"} or not parts.hostname
            or any(ch.isspace() or ch in CONTROL_CHARACTERS for ch in text)):
        raise fail(field, _("Enter a web address starting with https:// or http://."))
    return text


def clean_text(value: str | None, field: str, max_length: int = 5000, required: bool = False) -> str:
    """A longer free text (several lines): trimmed, NFC, no control characters but line breaks."""
    if value is not None and not isinstance(value, str):  # JSON: a number, a list...
        raise fail(field, _("This field must be text."))
    if len(value or "") > max_length:  # as sent, like a JSON schema's maxLength
        raise fail(field, _("Use at most %(n)d characters.", n=max_length))
    text = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n")).strip()
    if required and not text:
        raise fail(field, _("This field is required."))
    if len(text) > max_length:
        raise fail(field, _("Use at most %(n)d characters.", n=max_length))
    if any((ch in CONTROL_CHARACTERS and ch not in "\n\t") or ch in BIDI_CONTROLS
           for ch in text):
        raise fail(field, _("Remove the control characters from this field."))
    return text
