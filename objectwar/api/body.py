"""Reading a JSON API request's body."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from objectwar.errors import ValidationError


def json_body() -> Any:
    """The request's JSON; :raise ValidationError: missing or not JSON."""
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError(errors={"request": [_("Send a JSON object.")]})
    return data
