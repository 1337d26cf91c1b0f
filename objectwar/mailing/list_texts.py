"""A mailing list's name and description in the visitor's or subscriber's language.

A list's own ``name`` and ``description`` are in the default language; a
``MailingListText`` row gives them in one more. Where a language has none, the
default language's are shown, and pages say so (never a silent fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from objectwar.errors import ValidationError
from objectwar.i18n import current_locale
from objectwar.mailing.models import MailingList, MailingListText
from objectwar.validation import clean_name, clean_text, merge


@dataclass(frozen=True)
class ListText:
    name: str
    description: str
    locale: str  # the language of ``name`` and ``description``
    fallback: bool  # none in the language asked for: these are the default language's


def default_locale() -> str:
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def other_locales() -> list[str]:
    """The languages a coordinator may give a list's name in, besides the default one."""
    return [code for code in current_app.config["LANGUAGES"] if code != default_locale()]


def for_locale(mailing_list: MailingList, locale: str) -> ListText:
    """The list's name and description in ``locale``, else in the default language."""
    default = default_locale()
    if locale != default:
        for text in mailing_list.texts:
            if text.locale == locale:
                return ListText(text.name, text.description, locale, False)
    return ListText(mailing_list.name, mailing_list.description, default, locale != default)


def visible(mailing_list: MailingList) -> ListText:
    """The list's name and description for the current page's (or email's) language."""
    return for_locale(mailing_list, current_locale())


def form_values(mailing_list: MailingList, data: Any = None) -> dict[str, dict[str, str]]:
    """Per other language, the name and description to show in the admin's form."""
    stored = {text.locale: text for text in mailing_list.texts}
    values = {}
    for code in other_locales():
        text = stored.get(code)
        values[code] = {
            "name": data.get(f"name_{code}", "") if data is not None else (text.name if text else ""),
            "description": (data.get(f"description_{code}", "") if data is not None
                            else (text.description if text else "")),
        }
    return values


def save(mailing_list: MailingList, data: Any) -> list[str]:
    """Set the list's names and descriptions in the other languages from form fields
    ``name_<locale>`` and ``description_<locale>``; an empty name removes that language.

    Returns the languages that changed. :raise ValidationError: a name or description too long.
    """
    errors: list[ValidationError] = []
    wanted: dict[str, tuple[str, str]] = {}
    for code in other_locales():
        try:
            name = clean_name(data.get(f"name_{code}"), f"name_{code}", max_length=200) \
                if (data.get(f"name_{code}") or "").strip() else ""
            description = clean_text(data.get(f"description_{code}"), f"description_{code}",
                                     max_length=2000)
        except ValidationError as error:
            errors.append(error)
            continue
        if name:
            wanted[code] = (name, description)
    if errors:
        raise merge(errors)
    changed = []
    stored = {text.locale: text for text in mailing_list.texts}
    for code in other_locales():
        text, new = stored.get(code), wanted.get(code)
        if new is None:
            if text is not None:
                mailing_list.texts.remove(text)
                changed.append(code)
        elif text is None:
            mailing_list.texts.append(MailingListText(locale=code, name=new[0], description=new[1]))
            changed.append(code)
        elif (text.name, text.description) != new:
            text.name, text.description = new
            changed.append(code)
    return changed
