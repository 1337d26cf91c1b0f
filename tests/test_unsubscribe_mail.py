"""List-Unsubscribe's mailto: an email a mail client sends there, piped to ``flask unsubscribe-mail``.

The messages are built as a mail client answers the header of a real mail-out
received by a real SMTP server.
"""

from __future__ import annotations

import logging
import time
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import make_app
from sqlalchemy import select

from objectwar.extensions import db as _db
from objectwar.mailing import unsubscribe
from objectwar.mailing.models import Subscriber, Subscription, SubscriptionStatus
from objectwar.mailouts import editing, send, sweep
from objectwar.security import email_digest
from tests.factories import address, make_list


@pytest.fixture
def app_overrides(relay):
    return {**relay.config(), "MAILOUT_BATCH_SIZE": 5, "MAILOUT_RATE_PER_MINUTE": 1_000_000}


@pytest.fixture
def received(app, relay) -> dict[str, EmailMessage]:
    """A mail-out to three people of list ``updates``, as their inboxes got it (by address)."""
    with app.app_context():
        make_list(3)
        mailout = editing.create_mailout({"list": "updates", "subject": "News", "body_markdown":
                                           "Hello {{ name }}. [Leave]({{ unsubscribe_url }})"})
        sweep.start_sending(mailout.id)
        deadline = time.monotonic() + 180
        while send.run(mailout.id, seconds=5) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert relay.count() == 3
    return {message["To"].addresses[0].addr_spec: message for message in relay.messages}


def answer_to_mailto(message: EmailMessage, *, sender: str | None = None,
                     subject: str | None = None, body: str = "") -> bytes:
    """The email a mail client sends for the mailto of the message's List-Unsubscribe (RFC 2369)."""
    mailto = next(part.strip(" <>") for part in message["List-Unsubscribe"].split(",")
                  if part.strip(" <>").startswith("mailto:"))
    parts = urlsplit(mailto)
    answer = EmailMessage()
    answer["From"] = sender or message["To"].addresses[0].addr_spec
    answer["To"] = parts.path
    answer["Subject"] = subject if subject is not None else parse_qs(parts.query)["subject"][0]
    answer["Message-ID"] = "<answer-1@client.example>"
    answer.set_content(body)
    return answer.as_bytes()


def status_of(app, email: str) -> SubscriptionStatus:
    with app.app_context():
        return _db.session.scalar(
            select(Subscription.status).join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.email_digest == email_digest(email)))


def test_the_mailto_carries_the_signed_token_to_the_unsubscribe_mailbox(received):
    mailto = [part.strip(" <>") for part in received[address(0)]["List-Unsubscribe"].split(",")][1]
    parts = urlsplit(mailto)
    assert parts.scheme == "mailto" and parts.path == "unsubscribe@objectwar.test"  # MAIL_DEFAULT_SENDER's domain
    subject = parse_qs(parts.query)["subject"][0]
    https = received[address(0)]["List-Unsubscribe"].split(",")[0].strip(" <>")
    assert subject == "unsubscribe " + https.rsplit("/", 1)[1]  # the token of the link


def test_an_answered_mailto_unsubscribes_that_person_only(app, received, caplog):
    runner = app.test_cli_runner()
    with caplog.at_level(logging.INFO):
        result = runner.invoke(args=["unsubscribe-mail"], input=answer_to_mailto(received[address(1)]))
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert status_of(app, address(1)) == SubscriptionStatus.UNSUBSCRIBED
    assert status_of(app, address(0)) == SubscriptionStatus.SUBSCRIBED
    assert status_of(app, address(2)) == SubscriptionStatus.SUBSCRIBED
    assert "unsubscribed someone from list updates" in caplog.text
    assert address(1) not in caplog.text and "person00001" not in caplog.text
    # Again (the MTA delivers twice): nothing more happens, still exit 0.
    again = runner.invoke(args=["unsubscribe-mail"], input=answer_to_mailto(received[address(1)]))
    assert again.exit_code == 0
    assert status_of(app, address(1)) == SubscriptionStatus.UNSUBSCRIBED


def test_a_client_that_prefixes_the_subject_or_another_sender_still_counts(app, received):
    # The token is the authority, as for the link: a forwarding address may send it.
    token_subject = answer_to_mailto(received[address(2)], sender="forwarder@elsewhere.example")
    result = app.test_cli_runner().invoke(args=["unsubscribe-mail"], input=token_subject)
    assert result.exit_code == 0
    assert status_of(app, address(2)) == SubscriptionStatus.UNSUBSCRIBED


@pytest.mark.parametrize("change", ["forged", "reply", "garbage", "empty", "other_purpose"])
def test_a_message_without_a_valid_token_changes_nothing_and_exits_0(app, received, caplog, change):
    message = received[address(0)]
    https = message["List-Unsubscribe"].split(",")[0].strip(" <>")
    token = https.rsplit("/", 1)[1]
    if change == "forged":
        signature_start = token.rindex(".") + 1
        flipped = "A" if token[signature_start] != "A" else "B"
        raw = answer_to_mailto(message, subject=f"unsubscribe {token[:signature_start]}{flipped}"
                                                f"{token[signature_start + 1:]}")
    elif change == "reply":  # a reply quoting the mail-out holds the link, not the subject
        raw = answer_to_mailto(message, subject="Re: News", body=f"> Leave: {https}\nunsubscribe {token}")
    elif change == "garbage":
        raw = b"\xff\xfe\x00Subject: =?utf-8?b?####?=\r\n\r\n\x00\x01"
    elif change == "empty":
        raw = b""
    else:
        from objectwar import security

        with app.app_context():
            other = security.make_token("confirm-subscription", [1, 1])
        raw = answer_to_mailto(message, subject=f"unsubscribe {other}")
    result = app.test_cli_runner().invoke(args=["unsubscribe-mail"], input=raw)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert {status_of(app, address(i)) for i in range(3)} == {SubscriptionStatus.SUBSCRIBED}
    assert address(0) not in caplog.text


def test_an_unreachable_database_is_a_temporary_failure_for_the_mta(app, received, instance_dir):
    raw = answer_to_mailto(received[address(0)])
    broken = make_app("postgresql+psycopg://nobody@127.0.0.1:1/nothing", instance_dir)
    result = broken.test_cli_runner().invoke(args=["unsubscribe-mail"], input=raw)
    assert result.exit_code == 75  # EX_TEMPFAIL: the MTA keeps the message and retries
    assert status_of(app, address(0)) == SubscriptionStatus.SUBSCRIBED
    # Once the database is back, the retried message is handled.
    assert app.test_cli_runner().invoke(args=["unsubscribe-mail"], input=raw).exit_code == 0
    assert status_of(app, address(0)) == SubscriptionStatus.UNSUBSCRIBED


def test_a_configured_mailbox_is_used(app, relay):
    app.config["UNSUBSCRIBE_MAILBOX"] = "leave@lists.example.org"
    with app.test_request_context():
        assert unsubscribe.unsubscribe_mailbox() == "leave@lists.example.org"
        app.config["UNSUBSCRIBE_MAILBOX"] = None
        app.config["MAIL_DEFAULT_SENDER"] = ("Campaign", "news@campaign.example")
        assert unsubscribe.unsubscribe_mailbox() == "unsubscribe@campaign.example"
        app.config["MAIL_DEFAULT_SENDER"] = "Campaign <news@other.example>"
        assert unsubscribe.unsubscribe_mailbox() == "unsubscribe@other.example"


def test_a_large_message_is_read_to_its_end(app, received):
    raw = answer_to_mailto(received[address(0)], body="x" * (3 * 1024 * 1024))
    result = app.test_cli_runner().invoke(args=["unsubscribe-mail"], input=raw)
    assert result.exit_code == 0
    assert status_of(app, address(0)) == SubscriptionStatus.UNSUBSCRIBED
