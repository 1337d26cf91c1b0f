"""Reading a JSON API request's body."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from objectwar.errors import DomainError, ValidationError

# Our bodies nest five levels at most; deeper ones are refused before any code walks them.
MAX_DEPTH = 32


class UnsupportedMediaType(DomainError):
    """The body is of another content type than JSON."""

    status = 415

    def default_message(self) -> str:
        return _("Please send JSON.")


class MalformedBody(DomainError):
    """The body cannot be read at all (nested too deeply)."""

    status = 400

    def default_message(self) -> str:
        return _("The request could not be understood.")


def json_body(message: str | None = None) -> Any:
    """The request's JSON.

    :raise UnsupportedMediaType: another content type (415).
    :raise MalformedBody: JSON nested too deeply (400).
    :raise ValidationError: nothing sent, or not JSON (422), with ``message``.
    """
    message = message or _("Send a JSON object.")
    if not request.is_json and (request.mimetype or request.content_length):
        raise UnsupportedMediaType()
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:  # the decoder recurses once per level of nesting
        raise MalformedBody(_("The JSON is nested too deeply.")) from None
    if data is None:
        raise ValidationError(errors={"request": [message]})
    if _depth(data) > MAX_DEPTH:
        raise MalformedBody(_("The JSON is nested too deeply."))
    return data


def _depth(data: Any) -> int:
    """How deeply ``data``'s arrays and objects nest, found without recursion."""
    deepest, level = 0, [(data, 1)]
    while level:
        value, depth = level.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            level.extend((item, depth + 1) for item in value)
    return deepest
