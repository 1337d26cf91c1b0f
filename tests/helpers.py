"""Helpers of the tests: logging in (``auth``), forms' CSRF tokens and posts, links in emails,
subscriptions, counting rows and reading the audit log."""

from __future__ import annotations

import io
import re
import time

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from objectwar import security
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db
from objectwar.mailing.models import MailingList, Mailout, MailoutStatus, Subscriber, Subscription
from tests.factories import COORDINATOR_EMAIL, COORDINATOR_PASSWORD, add_coordinator

LOGIN = "/account/login"
SUBSCRIBE_FORM = "/lists/updates/subscribe"
LIST_IMPORT = "/admin/lists/updates/import"


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on ``path`` (the client keeps the session it belongs to)."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login_as(client: FlaskClient, app: Flask, user_id: int | None) -> FlaskClient:
    """Give ``client`` a logged-in session of that user (``None``: stay anonymous)."""
    if user_id is None:
        return client
    from objectwar.accounts.models import User

    with app.app_context():
        session_id = db.session.get(User, user_id).get_id()

    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
        session["login_at"] = session["seen_at"] = int(time.time())  # as objectwar.sessions.begin
    return client


def log_in_browser(page, base: str, path: str, email: str, password: str) -> None:
    """Log in through the login page a visit to ``path`` leads to (browser tests)."""
    page.goto(base + path)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#content form button[type=submit]")
    assert page.url.endswith(path), page.url


def link_in(mail, part: str = "/confirm/") -> str:
    """The path of the first link to ``part`` in an email (a message or its text), under PUBLIC_URL."""
    text = mail if isinstance(mail, str) else mail.body
    for path in re.findall(r'https://objectwar\.test(/[^\s"<]*)', text):
        if part in path:
            return path
    raise AssertionError(f"no link to {part} in: {text}")


def subscription_of(app: Flask, email: str, slug: str = "updates") -> Subscription | None:
    """The subscription of that address to list ``slug``, if there is one."""
    with app.app_context():
        return db.session.scalar(
            select(Subscription).join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscriber.email_digest == security.email_digest(email), MailingList.slug == slug))


class AuthActions:
    """Logs the test client in as one of the roles (flaskr's ``AuthActions``); see the ``auth`` fixture.

    ``coordinator()`` and ``member()`` give the client a session directly (fast, no form);
    ``login()`` posts the real login form, for the tests of logging in itself.
    """

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self.user_id: int | None = None

    def login(self, email: str, password: str, next_: str = "", *, client: FlaskClient | None = None):
        """Post the login form (with ``client``, the test's own by default); returns the answer."""
        client = client or self.client
        token = csrf_token(client, LOGIN)
        return client.post(LOGIN, data={"csrf_token": token, "email": email, "password": password,
                                        "next": next_})

    def logout(self, *, client: FlaskClient | None = None):
        """Post the logout form (with ``client``, the test's own by default); returns the answer."""
        client = client or self.client
        token = csrf_token(client, "/account/password")
        return client.post("/account/logout", data={"csrf_token": token})

    def as_user(self, user_id: int) -> FlaskClient:
        """The test's client, logged in as that user."""
        self.user_id = user_id
        return login_as(self.client, self.app, user_id)

    def coordinator(self, email: str = COORDINATOR_EMAIL,
                    password: str = COORDINATOR_PASSWORD) -> FlaskClient:
        """The test's client, logged in as the coordinator with that address (created if missing)."""
        with self.app.test_request_context():
            user_id = add_coordinator(email, password).id
        return self.as_user(user_id)

    def member(self, organisation) -> FlaskClient:
        """The test's client, logged in as the first user of that organisation (an id or a row)."""
        from objectwar.accounts.models import User

        organisation_id = getattr(organisation, "id", organisation)
        with self.app.app_context():
            user_id = db.session.scalar(select(User.id).where(User.organisation_id == organisation_id)
                                        .order_by(User.id).limit(1))
        assert user_id is not None, f"organisation {organisation_id} has no user"
        return self.as_user(user_id)


def post(client, url: str, data: dict | None = None, form_page: str = "/admin/mailouts/new"):
    """POST ``data`` to ``url`` with the CSRF token of ``form_page``."""
    return client.post(url, data={"csrf_token": csrf_token(client, form_page), **(data or {})})


def count(app, model, *where) -> int:
    """How many rows of ``model`` match ``where``."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def status_of(app, mailout_id: int) -> MailoutStatus:
    """The mail-out's status as stored."""
    with app.app_context():
        return db.session.get(Mailout, mailout_id).status


def audited(app, action: str) -> list[AuditEvent]:
    """The audit log's events of ``action``."""
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def subscribe(client, email="reader@example.org", name="Reader", consent="y", **extra):
    """Send the public subscribe form of the updates list."""
    data = {"csrf_token": csrf_token(client, SUBSCRIBE_FORM), "email": email, "name": name,
            "locale": "en", **extra}
    if consent:
        data["consent"] = consent
    return client.post(SUBSCRIBE_FORM, data=data)


def upload(client, content: str, filename: str = "people.csv"):
    """Upload a CSV file of people to the updates list's import page."""
    token = csrf_token(client, LIST_IMPORT)
    return client.post(LIST_IMPORT, data={"csrf_token": token,
                                          "file": (io.BytesIO(content.encode("utf-8")), filename)},
                       content_type="multipart/form-data")


def upload_ref(page: str) -> str:
    return re.search(r'name="upload"[^>]*value="([^"]+)"', page).group(1)


def confirm_import(client, page: str, consent: bool = True):
    """Confirm the import previewed on ``page``."""
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "upload": upload_ref(page)}
    if consent:
        data["consent"] = "y"
    return client.post(LIST_IMPORT + "/confirm", data=data)
