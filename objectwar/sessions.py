"""Flask's signed-cookie sessions, without per-request work for visitors who have none.

Most requests (the petition page, the public API) come from visitors without a
session cookie and leave without one. Flask's interface builds a signing
serializer on every open and save; this one builds it only when a cookie is
read or written, and skips saving an empty session nobody changed.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


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
