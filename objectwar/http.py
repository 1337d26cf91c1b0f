"""Response headers: security headers on every page, framing and CORS by opt-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors {ancestors}"
)

View = Callable[..., Any]


def embeddable(view: View) -> View:
    """Let any site frame this page (the petition widget)."""
    view.embeddable = True  # type: ignore[attr-defined]
    return view


def public_cors(view: View) -> View:
    """Let partner sites' scripts call this public API endpoint (preflight included)."""
    view.public_cors = True  # type: ignore[attr-defined]
    return view


def _view_flag(name: str) -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, name, False))


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        headers = response.headers
        framed = _view_flag("embeddable")
        headers.setdefault(
            "Content-Security-Policy", CSP.format(ancestors="*" if framed else "'none'")
        )
        if not framed:
            headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if _view_flag("public_cors"):
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            headers["Access-Control-Allow-Headers"] = "Content-Type, Accept-Language"
            headers["Access-Control-Max-Age"] = "86400"
        if request.path.startswith(("/account", "/admin", "/my", "/dev")):
            headers.setdefault("Cache-Control", "no-store")
        return response
