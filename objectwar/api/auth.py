"""Bearer-token authentication of the coordinator API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from flask_babel import gettext as _

from objectwar.accounts.services import user_for_api_token
from objectwar.errors import GENERAL, error_response


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def coordinator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """401 (with ``WWW-Authenticate``) without a valid token, 403 for a non-coordinator.

    The user is in ``g.api_user`` for the view.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = bearer_token()
        user = user_for_api_token(token) if token else None
        if user is None:
            return error_response(401, {GENERAL: [_("Send a valid API token.")]},
                                  {"WWW-Authenticate": 'Bearer realm="objectwar"'})
        if not user.is_coordinator:
            return error_response(403, {GENERAL: [_("Only coordinators may do this.")]})
        g.api_user = user
        return view(*args, **kwargs)

    return wrapped
