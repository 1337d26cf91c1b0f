"""Rate-limit keys and limits shared by the domains' views (Flask-Limiter)."""

from __future__ import annotations

import functools
import logging

from flask import Flask, current_app, request
from limits import parse

from objectwar import security
from objectwar.extensions import limiter

logger = logging.getLogger(__name__)


def client_key() -> str:
    """The client address as a keyed digest: the limiter's store never holds an address."""
    return "client:" + security.keyed_digest("addr:" + (request.remote_addr or "-"))


def _sign_limit() -> str:
    return current_app.config["SIGN_RATE_LIMIT"]


def _data_request_limit() -> str:
    return current_app.config.get("DATA_REQUEST_RATE_LIMIT", "5 per hour")


def within_budget(limit: str, scope: str, key: str) -> bool:
    """Count one use of a budget kept by the limiter's storage; ``False`` once it is spent.

    For limits that must not answer 429: the caller decides what to show (the
    same page as always, when a 429 would tell a stranger something).
    """
    if not limiter.enabled:
        return True
    try:
        return limiter.limiter.hit(parse(limit), scope, key)
    except Exception:  # the store is gone: fail open, as the limiter does (RATELIMIT_SWALLOW_ERRORS)
        logger.exception("Rate-limit store unavailable; %s not counted", scope)
        return True


def budget_spent(limit: str, scope: str, key: str) -> bool:
    """Whether a budget counted by :func:`within_budget` is spent (counts nothing)."""
    if not limiter.enabled:
        return False
    try:
        return not limiter.limiter.test(parse(limit), scope, key)
    except Exception:  # the store is gone: fail open, as the limiter does
        logger.exception("Rate-limit store unavailable; %s not checked", scope)
        return False


def _account_limit() -> str:
    return current_app.config.get("ACCOUNT_RATE_LIMIT", "10 per minute")


def _apply_limit() -> str:
    return current_app.config.get("APPLY_RATE_LIMIT", "5 per hour")


#: One budget per client address for logins, reset requests and new passwords (POST only).
account_limit = limiter.shared_limit(_account_limit, "account", key_func=client_key,
                                     methods=["POST"])
def _accepted(response) -> bool:
    return response.status_code in (302, 303)


#: Applications to join (each sends emails): a few per client address and hour. Only
#: accepted ones count (a redirect): a form sent back with errors costs nothing.
apply_limit = limiter.shared_limit(_apply_limit, "apply", key_func=client_key, methods=["POST"],
                                   deduct_when=_accepted)
#: Signing, through the form and the API together (SIGN_RATE_LIMIT per client address).
sign_rate_limit = limiter.shared_limit(_sign_limit, scope="sign", key_func=client_key,
                                       methods=["POST"])

#: Requests for a copy or the erasure of one's data (each sends an email), per client address.
data_request_limit = limiter.shared_limit(_data_request_limit, "data-request", key_func=client_key,
                                          methods=["POST"])


def init_app(app: Flask) -> None:
    """Bind the limiter, without the hooks it would run for nothing on every request.

    Every limit of ours decorates a view, and a decorated view checks its own
    limits when called. The limiter's before-request hook only evaluates default
    and application limits, and its after-request hook only writes headers and
    applies ``deduct_when``: with none of these configured, they are pure cost
    on the busiest pages. So the after-request hook runs only for a request
    that evaluated a limit of ours (one of them may count only on success).
    """
    limiter.init_app(app)
    if not (app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION")):
        hooks = app.before_request_funcs.get(None, [])
        hooks[:] = [hook for hook in hooks if getattr(hook, "__self__", None) is not limiter]
    if not app.config.get("RATELIMIT_HEADERS_ENABLED"):
        # Its after-request hook writes rate-limit headers, which we do not send,
        # and charges ``deduct_when`` limits, which only requests with limits have.
        hooks = app.after_request_funcs.get(None, [])
        hooks[:] = [functools.partial(_only_when_limited, hook)
                    if getattr(hook, "args", ()) == (limiter,) else hook for hook in hooks]


def _only_when_limited(hook, response):
    return hook(response) if limiter.current_limits else response
