"""The development server's request log, without the secrets that links carry.

Confirmation, unsubscribe, reset and data-request links hold signed tokens, and
their query strings may hold more; Werkzeug logs every request line as it came.
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler

from objectwar.http import redact


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
