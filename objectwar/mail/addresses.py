"""The addresses and host names every email uses, from the configuration."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import current_app


def public_host() -> str:
    """The host of ``PUBLIC_URL``: Message-IDs and List-Ids are made under it."""
    return urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"


def sending_domain() -> str:
    """The domain of ``MAIL_DEFAULT_SENDER`` (of ``PUBLIC_URL`` without one)."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    address = parseaddr(sender[1] if isinstance(sender, tuple) else sender)[1]
    return address.rpartition("@")[2] or public_host()


def mailbox(setting: str, local_part: str) -> str:
    """The address configured as ``setting``, else ``local_part@`` the sending domain
    (``BOUNCE_ADDRESS``: ``bounces@``, ``UNSUBSCRIBE_MAILBOX``: ``unsubscribe@``)."""
    return current_app.config.get(setting) or f"{local_part}@{sending_domain()}"
