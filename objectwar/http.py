"""Response headers: security headers on every page, framing and CORS by opt-in."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from config import onion_location

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors {ancestors}"
)

View = Callable[..., Any]


class App(Flask):
    """Flask, asking once per function whether a view or hook is ``async``.

    Flask asks ``inspect.iscoroutinefunction`` about every hook and the view on
    every request, about ten times; the answer never changes, and on the
    busiest pages it was a tenth of the application's time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Weak: a function made for one request (``after_this_request``) goes with it.
        self._known_sync: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            if func in self._known_sync:
                return func
        except TypeError:  # pragma: no cover - a callable without weak references
            return super().ensure_sync(func)
        synced = super().ensure_sync(func)
        if synced is func:
            self._known_sync.add(func)
        return synced


def embeddable(view: View) -> View:
    """Let any site frame this page (the petition widget)."""
    view.embeddable = True  # type: ignore[attr-defined]
    return view


def public_cors(view: View) -> View:
    """Let partner sites' scripts call this public API endpoint (preflight included)."""
    view.public_cors = True  # type: ignore[attr-defined]
    return view


# A public form or JSON body (a signature: under 4 KB) is refused above these before
# anything parses it: not the CSRF check, not a rate limit's answer, not the view.
SMALL_BODY_BYTES = 16 * 1024
SMALL_BODY_FIELDS = 50


def small_body(view: View) -> View:
    """Answer 413 to a body over ``SMALL_BODY_BYTES`` or of more than ``SMALL_BODY_FIELDS``
    form fields, before it is parsed (the global limit, ``MAX_CONTENT_LENGTH``, is for uploads)."""
    view.small_body = True  # type: ignore[attr-defined]
    return view


def _limit_small_bodies() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "small_body", False):
        return
    if (request.content_length or 0) > SMALL_BODY_BYTES:
        raise RequestEntityTooLarge()
    # A body of unknown length stops at this while it is read; multipart at its parts.
    request.max_content_length = SMALL_BODY_BYTES
    request.max_form_parts = SMALL_BODY_FIELDS
    # Werkzeug counts the fields of multipart forms only; of a urlencoded one, they are
    # counted here (the bytes are kept: the form is parsed from them later).
    if (request.mimetype == "application/x-www-form-urlencoded"
            and request.get_data(cache=True).count(b"&") >= SMALL_BODY_FIELDS):
        raise RequestEntityTooLarge()


_COMMON = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type, Accept-Language"),
    ("Access-Control-Max-Age", "86400"),
)
_PRIVATE_PREFIXES = ("/account", "/admin", "/my", "/dev")


@functools.cache
def _headers_for(framed: bool, cors: bool) -> tuple[tuple[str, str], ...]:
    """The headers every answer of one kind of view carries (built once per kind)."""
    headers = [("Content-Security-Policy", CSP.format(ancestors="*" if framed else "'none'"))]
    if not framed:
        headers.append(("X-Frame-Options", "DENY"))
    headers.extend(_COMMON)
    if cors:
        headers.extend(_CORS)
    return tuple(headers)


def init_app(app: Flask) -> None:
    # First of all the hooks: the CSRF check and the rate limits read the form.
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_small_bodies)

    @app.after_request
    def security_headers(response):
        view = current_app.view_functions.get(request.endpoint or "")
        cors = getattr(view, "public_cors", False)
        headers = response.headers
        present = {key.lower() for key, _value in headers}
        for key, value in _headers_for(getattr(view, "embeddable", False), cors):
            # A view may set its own policy (a stricter CSP); CORS answers always get ours.
            if key.lower() not in present:
                headers.add(key, value)
            elif cors and key.startswith("Access-Control-"):
                headers.set(key, value)
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith(_PRIVATE_PREFIXES):
            headers.setdefault("Cache-Control", "no-store")
        return response

    onion = onion_location(app.config.get("ONION_LOCATION"))  # overrides are checked too
    if onion:
        app.config["ONION_LOCATION"] = onion
        app.after_request(_onion_location_hook(onion))


_PATH_SAFE = "/:@!$&'()*+,;=~"


def _onion_location_hook(onion: str) -> Callable[[Response], Response]:
    """Announce the onion service on HTML pages: Tor Browser offers the same page there.

    Tor Browser reads the header only on a page (not on JSON, images or CSV), so
    nothing else carries it; nor does a page already served over the onion service.
    """

    def onion_location_header(response: Response) -> Response:
        if response.mimetype == "text/html" and not request.host.rsplit(":", 1)[0].endswith(".onion"):
            # The path as the visitor asked for it (Werkzeug gives it decoded); the query as sent.
            location = onion + quote(request.script_root + request.path, safe=_PATH_SAFE)
            if request.query_string:
                location += "?" + quote(request.query_string, safe=_PATH_SAFE + "%?")
            response.headers["Onion-Location"] = location
        return response

    return onion_location_header


def csv_download(rows: Iterator[str], filename: str) -> Response:
    """A CSV file streamed as it is read from the database.

    The rows are read in an app context (and a database session) of their own,
    so nothing of the request is held open while the file is sent, and the
    request's objects (the logged-in user) are not touched after it ended.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def in_own_context() -> Iterator[str]:
        with app.app_context():
            yield from rows

    return Response(in_own_context(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


# A chart served as an image may use its own inline styles, and nothing else.
SVG_IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def svg_image(svg: str) -> Response:
    """An SVG document drawn for one viewer, to be shown as an image."""
    return Response(svg, mimetype="image/svg+xml", headers={
        "Content-Security-Policy": SVG_IMAGE_CSP, "Cache-Control": "private, no-store"})
