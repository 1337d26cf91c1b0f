"""``/dev/outbox``: the mail the development sink kept (development only)."""

from __future__ import annotations

import os
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from flask import Blueprint, abort, current_app, render_template, request

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.before_request
def loopback_only():
    # Development only, and even then only for this machine: the outbox holds
    # every confirmation, reset and invitation link that was sent.
    if request.remote_addr not in ("127.0.0.1", "::1"):
        abort(404)

_NAME = re.compile(r"^[0-9]+-[0-9a-f]{8}\.eml$")


def _read(name: str) -> EmailMessage:
    if not _NAME.match(name):
        abort(404)
    path = os.path.join(current_app.config["OUTBOX_DIR"], name)
    if not os.path.exists(path):
        abort(404)
    with open(path, "rb") as handle:
        return BytesParser(policy=policy.default).parse(handle)  # type: ignore[return-value]


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


@bp.get("/outbox")
def outbox():
    folder = current_app.config["OUTBOX_DIR"]
    names = sorted(
        (name for name in os.listdir(folder) if _NAME.match(name)) if os.path.isdir(folder) else [],
        reverse=True,
    )[:200]
    messages = [(name, _read(name)) for name in names]
    return render_template("dev/outbox.html", messages=messages)


@bp.get("/outbox/<name>")
def message(name: str):
    msg = _read(name)
    return render_template("dev/message.html", name=name, message=msg, text=_part(msg, "plain"))


@bp.get("/outbox/<name>/html")
def message_html(name: str):
    html = _part(_read(name), "html")
    # Shown as sent, but sandboxed: no scripts, no requests to other hosts.
    return html, 200, {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    }
