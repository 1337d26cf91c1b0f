"""The signing rate limit, shared by the sign form and the API.

The limiter's key is a keyed digest of the client address: the clear address
is never stored, not even in the (Redis or memory) limiter storage.
"""

from __future__ import annotations

from flask import current_app, request

from objectwar import security
from objectwar.extensions import limiter


def client_key() -> str:
    return "client:" + security.keyed_digest("client-address:" + (request.remote_addr or "-"))


def _sign_limit() -> str:
    return current_app.config["SIGN_RATE_LIMIT"]


sign_rate_limit = limiter.shared_limit(_sign_limit, scope="sign", key_func=client_key,
                                       methods=["POST"])
