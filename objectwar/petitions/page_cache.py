"""Rendered petition pages and documents, kept per process while nothing in them changes.

The petition page is the campaign's busiest page. For an anonymous visitor it
depends only on the petition's content and state, the locale and the query
string, so it is rendered once per such key and served from memory; the
per-visitor value in it (the forms' signed timestamp) is put in at serving
time. The sign and share forms need no CSRF token (see ``views.sign``), so an
anonymous visitor gets no session cookie; a CSRF token, should a cached page
ever hold one, is filled in the same way. The key holds the confirmed count, so every
confirmation shows at once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import current_app, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

CSRF_HOLE = "\x00csrf\x00"
STAMP_HOLE = "\x00stamp\x00"
MAX_ENTRIES = 512


def _cache(name: str) -> OrderedDict:
    return current_app.extensions.setdefault(f"objectwar.{name}", OrderedDict())


_lock = threading.Lock()  # threaded servers: one writer at a time (reads need none)


def _remember(cache: OrderedDict, key: Any, value: Any) -> Any:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > MAX_ENTRIES:
            cache.popitem(last=False)
    return value


def cacheable_request() -> bool:
    """A visitor whose page is the same as any other's: not logged in, no messages waiting."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return True  # no session: nobody is logged in and nothing is waiting
    return not current_user.is_authenticated and "_flashes" not in session


def page(key: tuple, render: Callable[..., str], stamp: Callable[[], str]) -> str | bytes:
    """The page for ``key`` (rendered with ``render(csrf_token=..., stamp=...)`` when missing).

    A cached page is kept as UTF-8 pieces around its per-visitor holes, so
    serving it is one join, with no search through the page and no encoding.
    """
    if not current_app.config.get("PAGE_CACHE", True) or not cacheable_request():
        return render(csrf_token=generate_csrf, stamp=stamp())
    cache = _cache("petition_pages")
    full_key = (*key, request.query_string)
    pieces = cache.get(full_key)
    if pieces is None:
        html = render(csrf_token=lambda: CSRF_HOLE, stamp=STAMP_HOLE)
        pieces = _remember(cache, full_key, _split(html))
    fill = {STAMP_HOLE: stamp}
    if CSRF_HOLE in pieces:  # the petition page has no CSRF token, and so sets no cookie
        fill[CSRF_HOLE] = generate_csrf
    return b"".join(piece if isinstance(piece, bytes) else fill[piece]().encode("utf-8")
                    for piece in pieces)


_HOLES = re.compile(f"({re.escape(CSRF_HOLE)}|{re.escape(STAMP_HOLE)})")


def _split(html: str) -> tuple[bytes | str, ...]:
    """``html`` as encoded text pieces and, between them, the names of its holes."""
    return tuple(piece if piece in (CSRF_HOLE, STAMP_HOLE) else piece.encode("utf-8")
                 for piece in _HOLES.split(html) if piece)


def document(key: tuple, build: Callable[[], bytes], kind: str = "petition_documents") -> bytes:
    """A JSON document (or another ``kind`` of file) for ``key``, built once while the key holds."""
    cache = _cache(kind)
    body = cache.get(key)
    if body is None:
        body = _remember(cache, key, build())
    return body
