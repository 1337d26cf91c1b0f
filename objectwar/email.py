"""The one place that builds and sends mail.

Domains compose a message from ``templates/emails/<name>.txt`` and ``.html``
in the recipient's locale with :func:`compose`; workers put it on the wire
with :func:`send` (or several over one connection with :func:`connection`).
Links in emails come from ``PUBLIC_URL`` through :func:`external_url`, never
from a request's Host header.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_mail import Message, email_dispatched
from werkzeug.routing import MapAdapter

from objectwar.extensions import mail


def _public_adapter() -> MapAdapter:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    adapter = app.extensions.get("objectwar.public_urls")
    if adapter is None:
        parts = urlsplit(app.config["PUBLIC_URL"])
        adapter = app.url_map.bind(
            parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https"
        )
        app.extensions["objectwar.public_urls"] = adapter
    return adapter


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL under ``PUBLIC_URL`` (for emails and share links)."""
    return _public_adapter().build(endpoint, values, force_external=True)


def compose(
    template: str,
    *,
    to: str,
    locale: str,
    subject: Any,
    sender: str | tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Message:
    """Render a text + HTML message in ``locale``.

    ``subject`` may be a lazy gettext string: it is rendered in ``locale`` too.
    """
    with force_locale(locale):
        context = {"locale": locale, "external_url": external_url, **context}
        text = render_template(f"emails/{template}.txt", **context)
        html = render_template(f"emails/{template}.html", **context)
        subject = str(subject)
    return Message(
        subject=subject,
        recipients=[to],
        body=text,
        html=html,
        sender=sender or current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers=headers,
    )


def send(message: Message) -> None:
    """Send one message over its own SMTP connection.

    An address whose local part is not ASCII (``иван@почта.рф``) needs SMTPUTF8
    (RFC 6531), which Flask-Mail does not speak: such a message goes out as a
    UTF-8 message with that option. The relay must offer SMTPUTF8.
    """
    if not any(_non_ascii_local_part(address) for address in message.send_to):
        mail.send(message)
        return
    with mail.connect() as conn:
        if conn.host:  # None while sending is suppressed (tests record instead)
            conn.host.send_message(_utf8_message(message))
        email_dispatched.send(message, app=current_app._get_current_object())  # type: ignore[attr-defined]


def _non_ascii_local_part(address: str) -> bool:
    return not address.rpartition("@")[0].isascii()


def _utf8_message(message: Message) -> EmailMessage:
    """The same message for an SMTPUTF8 relay: headers and addresses in UTF-8."""
    utf8 = EmailMessage(policy=SMTPUTF8)
    utf8["Subject"] = message.subject
    utf8["From"] = message.sender if isinstance(message.sender, str) else formataddr(message.sender)
    utf8["To"] = ", ".join(message.recipients)
    utf8["Date"] = formatdate(localtime=False)
    utf8["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["PUBLIC_URL"]).hostname)
    for name, value in (message.extra_headers or {}).items():
        utf8[name] = value
    utf8.set_content(message.body or "")
    if message.html:
        utf8.add_alternative(message.html, subtype="html")
    return utf8


@contextmanager
def connection() -> Iterator[Any]:
    """One SMTP connection for many messages: ``with connection() as c: c.send(m)``."""
    with mail.connect() as conn:
        yield conn
