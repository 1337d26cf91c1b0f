"""The mail core imports no domain, every kind of notice has its domain's composer,
and one classification of SMTP errors holds for every email."""

from __future__ import annotations

import ast
import smtplib
from pathlib import Path

import pytest

import objectwar
from objectwar.mail import message as mailer
from objectwar.mail import notices
from objectwar.mail.models import Notice, NoticeKind

CORE = Path(objectwar.__file__).parent / "mail"
# What the core may build on: itself and the app's plumbing, never a domain.
ALLOWED = ("objectwar.mail", "objectwar.extensions", "objectwar.types", "objectwar.security")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("objectwar")}


@pytest.mark.parametrize("module", sorted(p.name for p in CORE.glob("*.py")))
def test_the_mail_core_imports_no_domain(module):
    upward = {name for name in _imports(CORE / module) if not name.startswith(ALLOWED)}
    assert not upward, f"objectwar/mail/{module} imports {sorted(upward)}"


def test_the_core_has_its_own_rules_once():
    """The SMTP classification, the retry rule and the lease live in the core only."""
    root = Path(objectwar.__file__).parent
    for path in root.rglob("*.py"):
        if path.parent == CORE:
            continue
        text = path.read_text()
        for rule in ("def failure(", "def next_try(", "def lease_seconds(", "SMTPRecipientsRefused",
                     "def bounce_address(", "def mailbox("):
            assert rule not in text, f"{path.relative_to(root)} has its own {rule!r}"


def test_every_kind_of_notice_has_a_composer(app):
    missing = [kind for kind in NoticeKind if kind not in notices._COMPOSERS]
    assert not missing


def test_a_notice_of_a_kind_nobody_composes_is_an_error_not_silence(app, monkeypatch):
    monkeypatch.delitem(notices._COMPOSERS, NoticeKind.INVITATION)
    with pytest.raises(LookupError, match="invitation"):
        notices.compose(Notice(kind=NoticeKind.INVITATION, target_id=1, recipient="a@b.example"))


@pytest.mark.parametrize(("error", "permanent", "bounce", "connection_lost"), [
    (smtplib.SMTPRecipientsRefused({"a@b.example": (550, b"no such user")}), True, True, False),
    (smtplib.SMTPRecipientsRefused({"a@b.example": (451, b"greylisted")}), False, False, False),
    (smtplib.SMTPDataError(554, b"content refused"), True, False, False),
    (smtplib.SMTPSenderRefused(553, b"sender refused", "x@y.example"), False, False, False),
    (smtplib.SMTPSenderRefused(530, b"must issue STARTTLS", "x@y.example"), False, False, False),
    (smtplib.SMTPDataError(452, b"queue full"), False, False, False),
    (smtplib.SMTPServerDisconnected("gone"), False, False, True),
    (smtplib.SMTPResponseException(421, b"closing"), False, False, True),
    (smtplib.SMTPConnectError(554, b"go away"), False, False, True),
    (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False, False, True),
    (ConnectionRefusedError(), False, False, True),
    (TimeoutError(), False, False, True),
    (smtplib.SMTPNotSupportedError(), True, False, False),
    (UnicodeEncodeError("ascii", "ä", 0, 1, "no"), True, False, False),
])
def test_one_classification_of_smtp_errors(error, permanent, bounce, connection_lost):
    failed = mailer.failure(error)
    assert (failed.permanent, failed.bounce, failed.connection_lost) == (permanent, bounce, connection_lost)
    assert "no such user" not in str(failed) and "greylisted" not in str(failed)  # never the relay's text


@pytest.fixture
def app_overrides(relay):
    return relay.config()


def test_one_message_and_a_mail_out_delivery_classify_alike(app, relay):
    """A recipient refused with a 5xx: a bounce, never retried, by either way of sending."""
    relay.answers["dead@example.org"] = "550 5.1.1 no such user"
    with app.app_context():
        with pytest.raises(mailer.SendError) as one:
            mailer.send(mailer.compose("password_reset", to="dead@example.org", locale="en",
                                       subject="x", link="https://objectwar.test/x"))
        conn = mailer.open_connection()
        try:
            with pytest.raises(mailer.SendError) as raw:
                mailer.send_raw(conn, "bounces@objectwar.test", "dead@example.org",
                                b"Subject: x\r\n\r\nx\r\n")
        finally:
            mailer.close_connection(conn)
    assert (one.value.permanent, one.value.bounce, str(one.value)) == (True, True, "550 recipient refused")
    # What a worker logs of it (its traceback) names no address: smtplib's error is not chained.
    import traceback

    for raised in (one.value, raw.value):
        shown = [line for line in traceback.format_exception(raised) if not line.startswith("  ")]
        assert raised.__suppress_context__ and raised.__cause__ is None
        assert not any("dead@example.org" in line or "no such user" in line for line in shown)
    assert (raw.value.permanent, raw.value.bounce, str(raw.value)) == (True, True, "550 recipient refused")
