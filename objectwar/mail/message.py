"""The one place that builds and sends mail.

Domains compose a message from ``templates/emails/<name>.txt`` and ``.html``
in the recipient's locale with :func:`compose`; workers put it on the wire
with :func:`send` (or several over one connection with :func:`connection`).
Links in emails come from ``PUBLIC_URL`` through :func:`external_url`, never
from a request's Host header.
"""

from __future__ import annotations

import binascii
import secrets
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_mail import Message, email_dispatched
from markupsafe import escape
from werkzeug.routing import MapAdapter

from objectwar.extensions import mail
from objectwar.mail import addresses, verp


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


def configured_text(setting: str, default: str, translated: Any) -> Any:
    """The text of ``setting``, else ``default``; the default as ``translated`` (its lazy
    translation), so that only a text an operator chose stays as written."""
    configured = current_app.config.get(setting) or default
    return translated if configured == default else configured


# The configured sender name of confirmation emails is translated when it is the default.
DEFAULT_CONFIRMATION_SENDER_NAME = "Confirmation"


def confirmation_sender() -> tuple[Any, str]:
    """The sender of every confirmation email (signatures, subscriptions): a neutral
    name, in the recipient's language when it is the default one, and the address."""
    name = configured_text("CONFIRMATION_SENDER_NAME", DEFAULT_CONFIRMATION_SENDER_NAME,
                           _l("Confirmation"))
    return name, current_app.config["MAIL_DEFAULT_SENDER"]


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

    ``subject`` and the name of a ``(name, address)`` sender may be lazy gettext
    strings: they are rendered in ``locale`` too.
    """
    with force_locale(locale):
        context = {"locale": locale, "external_url": external_url, **context}
        text = render_template(f"emails/{template}.txt", **context)
        html = render_template(f"emails/{template}.html", **context)
        subject = str(subject)
        if isinstance(sender, tuple):
            sender = (str(sender[0]), sender[1])
    return Message(
        subject=subject,
        recipients=[to],
        body=text,
        html=html,
        sender=sender or current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers=headers,
    )


def send(message: Message, *, sent_as: verp.Tag | None = None) -> None:
    """Send one message over its own SMTP connection.

    Its envelope sender is the bounce address, tagged with ``sent_as`` (VERP:
    a report that comes back names the row it was sent for).
    An address whose local part is not ASCII (``иван@почта.рф``) needs SMTPUTF8
    (RFC 6531), which Flask-Mail does not speak: such a message goes out as a
    UTF-8 message with that option. The relay must offer SMTPUTF8.
    A relay that stops answering fails the send after ``SMTP_TIMEOUT_SECONDS``
    (Flask-Mail sets no timeout): a worker never waits past its claim's lease.

    :raise SendError: the relay refused or the connection failed (:func:`failure`).
    """
    try:
        _send(message, sent_as)
    except SMTP_ERRORS as error:
        raise failure(error) from None  # smtplib's error quotes the address


def _send(message: Message, sent_as: verp.Tag | None) -> None:
    envelope_from = (verp.envelope_sender(sent_as.kind, *sent_as.ids) if sent_as is not None
                     else verp.bounce_address())
    utf8 = any(_non_ascii_local_part(address) for address in message.send_to)
    with mail.connect() as conn:
        if conn.host is not None and conn.host.sock is not None:
            conn.host.sock.settimeout(SMTP_TIMEOUT_SECONDS)
        if not utf8:
            conn.send(message, envelope_from=envelope_from)
            return
        if conn.host:  # None while sending is suppressed (tests record instead)
            conn.host.send_message(_utf8_message(message), from_addr=envelope_from)
        email_dispatched.send(message, app=current_app._get_current_object())  # type: ignore[attr-defined]


def _non_ascii_local_part(address: str) -> bool:
    return not address.rpartition("@")[0].isascii()


def _utf8_message(message: Message) -> EmailMessage:
    """The same message for an SMTPUTF8 relay: headers and addresses in UTF-8."""
    utf8 = EmailMessage(policy=SMTPUTF8)
    utf8["Subject"] = message.subject
    utf8["From"] = message.sender if isinstance(message.sender, str) else formataddr(message.sender)
    utf8["To"] = ", ".join(message.recipients)
    if message.reply_to:
        utf8["Reply-To"] = message.reply_to
    utf8["Date"] = formatdate(localtime=False)
    utf8["Message-ID"] = make_msgid(domain=addresses.public_host())
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


# -- mail-outs: one message built per locale, personalised per recipient --------
#
# Building a MIME message costs far more than sending it, so a mail-out builds
# the fixed part of each locale's message once (:class:`RawTemplate`) and only
# substitutes the recipient's values and encodes the two bodies per recipient.
# :func:`send_raw` puts the bytes on a connection opened by :func:`connection`.

SMTP_TIMEOUT_SECONDS = 30


class SendError(Exception):
    """The relay did not accept a message.

    ``permanent``: a 5xx answer (do not retry). ``bounce``: the relay refused
    the recipient's address itself (5xx to RCPT TO), so the address is dead;
    a refused sender or content is not the recipient's fault. ``connection_lost``:
    the connection is unusable (refused, timed out, closed): the rest of the
    batch waits for another connection. The message holds the SMTP code and the
    kind of error, never the relay's text (it often quotes the address).
    """

    def __init__(self, message: str, *, permanent: bool = False, bounce: bool = False,
                 connection_lost: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.bounce = bounce
        self.connection_lost = connection_lost


# What sending can raise: the relay's answers, a lost connection, an address that
# cannot be encoded.
SMTP_ERRORS = (smtplib.SMTPException, OSError, UnicodeError)
# Refusals while connecting: the relay's state or our settings, never the message's fault.
CONNECTING_ERRORS = (smtplib.SMTPConnectError, smtplib.SMTPHeloError, smtplib.SMTPAuthenticationError)


def failure(error: BaseException) -> SendError:
    """The one classification of a failed send, for every kind of email.

    A 5xx answer to the message is permanent (trying again cannot help); a 5xx to
    RCPT TO is a bounce as well (the address is dead); a refused sender (MAIL FROM:
    authentication, quota, our address) and a 4xx are transient
    (greylisting, a full queue). A refusal while connecting (greeting, HELO,
    login), a 421, a closed or refused connection and a timeout are transient and
    lose the connection.
    An address that cannot be encoded, or a non-ASCII one to a relay without
    SMTPUTF8, is permanent.
    """
    if isinstance(error, SendError):
        return error
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reason in error.recipients.values()] or [450]
        dead = all(500 <= code < 600 for code in codes)
        return SendError(f"{','.join(map(str, codes))} recipient refused", permanent=dead, bounce=dead)
    if isinstance(error, CONNECTING_ERRORS):  # the relay, not the message: try again later
        return SendError(f"{error.smtp_code} cannot connect: {type(error).__name__}", connection_lost=True)
    if isinstance(error, smtplib.SMTPSenderRefused):  # our sender or the relay's state: try again
        return SendError(f"{error.smtp_code} sender refused")
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return SendError(f"{code} {type(error).__name__}", permanent=500 <= code < 600,
                         connection_lost=code == 421 or code < 0)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return SendError("SMTPUTF8 not supported by the relay", permanent=True)
    if isinstance(error, UnicodeError):
        return SendError("the address cannot be encoded", permanent=True)
    return SendError(type(error).__name__, connection_lost=True)  # disconnects, refusals, timeouts


def _header(name: str, value: str) -> bytes:
    # RFC 2047-encodes non-ASCII text and folds long lines.
    return SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY).encode("ascii")


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return encoded if encoded.endswith(b"\r\n") else encoded + b"\r\n"


class RawTemplate:
    """A text + HTML message whose bodies hold placeholders, rendered to bytes per recipient.

    ``text`` and ``html`` contain the keys of the ``values`` given to :meth:`render`;
    values are put into the HTML part escaped. Fixed headers are encoded once.
    """

    def __init__(self, *, subject: str, sender: str, text: str, html: str,
                 headers: dict[str, str] | None = None) -> None:
        self.text = text
        self.html = html
        boundary = "===============" + secrets.token_hex(12) + "=="
        head = [
            _header("From", sender),
            _header("Subject", subject),
            _header("Date", formatdate(localtime=False, usegmt=True)),
            b"MIME-Version: 1.0\r\n",
        ]
        head += [_header(name, value) for name, value in (headers or {}).items()]
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode())
        self._head = b"".join(head)
        self._text_start = (
            f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._html_start = (
            f"--{boundary}\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._end = f"--{boundary}--\r\n".encode()

    def render(self, *, to: str, to_name: str | None, message_id: str,
               values: dict[str, str], headers: dict[str, str] | None = None) -> bytes:
        """The whole message for one recipient, as bytes ready for ``sendmail``."""
        text, html = self.text, self.html
        for key, value in values.items():
            text = text.replace(key, value)
            html = html.replace(key, str(escape(value)))
        recipient = [
            _to_header(to, to_name),
            f"Message-ID: {message_id}\r\n".encode(),
        ]
        recipient += [f"{key}: {value}\r\n".encode() for key, value in (headers or {}).items()]
        return b"".join((
            self._head, *recipient, self._text_start, _qp(text), self._html_start, _qp(html),
            self._end,
        ))


def _to_header(address: str, name: str | None) -> bytes:
    """``To:`` with the name as RFC 2047 words of at most 75 characters (fast: no email.header)."""
    name = " ".join((name or "").split())  # no line breaks in a header
    if not address.isascii():  # SMTPUTF8: the header is sent as UTF-8
        return f"To: {address}\r\n".encode()
    if name.isascii():
        return f"To: {formataddr((name, address))}\r\n".encode()
    words, chunk = [], b""
    for char in name:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:  # 45 bytes -> 60 base64 characters
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    encoded_words = "\r\n ".join(
        "=?utf-8?b?" + binascii.b2a_base64(word, newline=False).decode() + "?=" for word in words
    )
    return f"To: {encoded_words}\r\n <{address}>\r\n".encode()


def send_raw(conn: Any, envelope_from: str, to: str, data: bytes) -> None:
    """Send rendered bytes over an open :func:`connection` (nothing when mail is suppressed).

    :raise SendError: the relay refused or the connection failed.
    """
    host = conn.host
    if host is None:  # MAIL_SUPPRESS_SEND
        return
    options = [] if to.isascii() else ["SMTPUTF8"]
    try:
        host.sendmail(envelope_from, [to], data, mail_options=options)
    except SMTP_ERRORS as error:
        raise failure(error) from None  # smtplib's error quotes the address


def open_connection() -> Any:
    """Enter :func:`connection` by hand (the caller must ``close_connection``).

    :raise SendError: the relay cannot be reached (a transient error).
    """
    manager = connection()
    try:
        conn = manager.__enter__()
    except SMTP_ERRORS as error:
        raise failure(error) from None  # smtplib's error quotes the address
    if conn.host is not None:
        conn.host.set_debuglevel(0)  # MAIL_DEBUG (on with DEBUG) would print every message
        if conn.host.sock is not None:
            conn.host.sock.settimeout(SMTP_TIMEOUT_SECONDS)  # Flask-Mail sets none
    conn._objectwar_manager = manager
    return conn


def close_connection(conn: Any) -> None:
    """Close a connection from :func:`open_connection`, ignoring a relay already gone."""
    with suppress(smtplib.SMTPException, OSError):
        conn._objectwar_manager.__exit__(None, None, None)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
