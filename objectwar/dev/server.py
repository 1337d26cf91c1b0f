"""The development server's request log, without the secrets that links carry.

Confirmation, unsubscribe, reset and data-request links hold signed tokens, and
their query strings may hold more; Werkzeug logs every request line as it came.
"""

from __future__ import annotations

import re

from werkzeug.serving import WSGIRequestHandler

# A path segment as long as a token (ours are 20 characters or more); short slugs stay.
TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-.~%]{20,}")


def redact(target: str) -> str:
    """A request target with token-like path segments and the query string hidden."""
    path, question, _query = target.partition("?")
    return TOKEN_SEGMENT.sub("[token]", path) + ("?[query]" if question else "")



class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging request lines through :func:`redact`."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path, line = getattr(self, "path", None), self.requestline
        if path is not None:
            self.path = redact(path)
        method, _space, rest = line.partition(" ")
        target, _space, version = rest.partition(" ")
        self.requestline = f"{method} {redact(target)} {version}".strip()
        try:
            super().log_request(code, size)
        finally:
            self.requestline = line
            if path is not None:
                self.path = path
