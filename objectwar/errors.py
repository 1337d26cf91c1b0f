"""Domain errors and the one place that turns errors into answers.

Services raise these; views do not catch them. Pages under ``/api/`` get
``{"errors": {field: [message, ...]}}`` with the status code, every other page
an HTML error page.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from objectwar.extensions import limiter

# Key of messages that belong to no one field.
GENERAL = "request"


class DomainError(Exception):
    """Base of the errors services raise; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None):
        super().__init__(message or self.__class__.__name__)
        self.message = message
        self.errors = errors or {GENERAL: [message or self.default_message()]}

    def default_message(self) -> str:
        return _("The request could not be handled.")


class ValidationError(DomainError):
    """Input broke a rule; ``errors`` maps fields to messages."""

    status = 422

    def default_message(self) -> str:
        return _("Please correct the errors below.")


class NotFound(DomainError):
    status = 404

    def default_message(self) -> str:
        return _("Not found.")


class Forbidden(DomainError):
    status = 403

    def default_message(self) -> str:
        return _("You are not allowed to do this.")


class Conflict(DomainError):
    """The object is not in a state that allows the action."""

    status = 409


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, errors: dict[str, list[str]], headers: Any = None):
    if wants_json():
        response = jsonify({"errors": errors})
    else:
        messages = [message for field in errors.values() for message in field]
        response = render_template("errors/error.html", status=status, messages=messages)
    return response, status, headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        return error_response(error.status, error.errors)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        message = _("This form has expired or was sent from another site. Please reload the page and try again.")
        return error_response(400, {GENERAL: [message]})

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(retry_after())
        if status == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return error_response(status, {GENERAL: [_http_message(status)]}, headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def handle_database_unreachable(error: DBAPIError):
        # The database is down or restarting: say so and when to come back. The pool drops
        # the dead connection, so the first request after it is back is served again.
        if not getattr(error, "connection_invalidated", False) and not _unreachable(error):
            return handle_unexpected(error)
        app.logger.error("Database unavailable: %s", type(error.orig).__name__)
        return error_response(503, {GENERAL: [_http_message(503)]},
                              {"Retry-After": str(DATABASE_RETRY_AFTER)})

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        # The route's pattern, not the path: paths carry confirmation and reset tokens.
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        app.logger.exception("Unhandled error on %s %s", request.method, rule)
        return error_response(500, {GENERAL: [_http_message(500)]})


DATABASE_RETRY_AFTER = 30


def _unreachable(error: DBAPIError) -> bool:
    """Whether a database error says the database cannot be reached (not a bad query)."""
    if isinstance(error, InterfaceError):
        return True
    text = str(error.orig).lower()
    return any(sign in text for sign in (
        "connection", "could not connect", "server closed", "terminating", "shutting down",
        "unable to open database", "disk i/o error", "the database system is starting up"))


def retry_after() -> int:
    """Seconds until the limit that was hit lets the client in again."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))


def _http_message(status: int) -> str:
    messages = {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("You are not allowed to see this page."),
        404: _("This page does not exist."),
        405: _("This address does not accept that kind of request."),
        413: _("What you sent is too large."),
        415: _("Please send JSON."),
        429: _("Too many requests. Please wait a moment and try again."),
        500: _("Something went wrong on our side. Please try again later."),
        503: _("The site is briefly unavailable. Please try again in a minute."),
    }
    return messages.get(status, _("The request could not be handled."))
