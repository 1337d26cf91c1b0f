"""Flask's signed-cookie sessions, without per-request work for visitors who have none.

Most requests (the petition page, the public API) come from visitors without a
session cookie and leave without one. Flask's interface builds a signing
serializer on every open and save; this one builds it only when a cookie is
read or written, and skips saving an empty session nobody changed.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, flash, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import logout_user

# Keys of a logged-in session (ASVS 3.3): when it began and when it was last used.
LOGIN_AT = "login_at"
SEEN_AT = "seen_at"
# Writing the cookie again on every request is not worth it: last use is kept to this.
SEEN_RESOLUTION_SECONDS = 60


class SessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what Flask returns for a missing cookie
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:
            # Empty and unchanged: Flask would set and delete nothing either, only
            # say that the answer depended on the cookie (Flask-Login looks at
            # the session after every request).
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.before_request(expire_session)


def begin(now: float | None = None) -> None:
    """Record the start of a logged-in session (call right after ``login_user``)."""
    now = int(now if now is not None else time.time())
    session[LOGIN_AT] = session[SEEN_AT] = now


def expire_session() -> None:
    """End a logged-in session idle for ``SESSION_IDLE_MINUTES`` or older than
    ``SESSION_MAX_HOURS`` (or from before these were recorded); else note its use."""
    if "_user_id" not in session:
        return
    now = int(time.time())
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    config = current_app.config
    if (not isinstance(login_at, int) or not isinstance(seen_at, int)
            or now - seen_at > config["SESSION_IDLE_MINUTES"] * 60
            or now - login_at > config["SESSION_MAX_HOURS"] * 3600):
        logout_user()
        session.clear()
        flash(_("Your session has ended. Please log in again."))
        return
    if now - seen_at >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_AT] = now
