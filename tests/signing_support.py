"""Helpers for the signing tests: valid input and reading forms."""

from __future__ import annotations

import re
from html import unescape

from objectwar.demo import PETITION_SLUG

SLUG = PETITION_SLUG
SIGN_URL = f"/petitions/{SLUG}/sign"
API_URL = f"/api/v1/petitions/{SLUG}/signatures"


def person(**changes) -> dict:
    """A valid API body; ``changes`` replace or (with ``None``) remove fields."""
    data = {"first_name": "Anna", "last_name": "Müller", "email": "anna@example.org",
            "country": "DE", "consent": True, "updates": False, "public_name": False,
            "locale": "en", "organisation": None}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None or key == "organisation"}


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's sign form (CSRF token, stamp, locale, organisation...)."""
    fields = {}
    for match in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        fields[match.group(1)] = unescape(match.group(2))
    return fields


def form_data(page: str, **changes) -> dict:
    """What a person filling in the form on ``page`` sends; ``changes`` with ``None`` remove."""
    data = hidden_fields(page)
    data.update({"first_name": "Anna", "last_name": "Müller", "email": "anna@example.org",
                 "country": "DE", "consent": "y"})
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def sign_form(client, path: str = f"/petitions/{SLUG}", **changes):
    """Load the page at ``path`` and submit its form."""
    page = client.get(path).get_data(as_text=True)
    return client.post(SIGN_URL, data=form_data(page, **changes))


def csrf_of(page: str) -> str:
    return hidden_fields(page)["csrf_token"]
