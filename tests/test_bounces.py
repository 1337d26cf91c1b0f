"""Bounces and complaints: real reports piped into ``flask bounce-mail``, and what they do.

The reports in ``tests/reports/`` are filled in with what a real mail-out
carried as a real SMTP server (aiosmtpd) received it: its VERP envelope sender,
its Message-ID and its recipient. Each runs on both databases.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import make_app
from sqlalchemy import func, select, update

from objectwar import security
from objectwar.accounts.models import Role, User
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.mail import verp
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing import bounces, subscribe, subscribers
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Mailout,
    MailoutStatus,
    ReportKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from objectwar.mailouts import editing, send, status, sweep
from objectwar.types import utcnow
from tests.factories import add_subscribers, address, make_list

REPORTS = Path(__file__).parent / "reports"
COORDINATOR = "sender@campaign.example"
VERP_ADDRESS = re.compile(r"bounces\+([a-z][0-9-]+-[a-z2-7]{16})@objectwar\.test")


@pytest.fixture
def app_overrides(relay):
    return {**relay.config(), "MAILOUT_BATCH_SIZE": 50, "MAILOUT_RATE_PER_MINUTE": 1_000_000}


@dataclass(frozen=True)
class Received:
    """One message of a mail-out as the SMTP server received it."""

    envelope: str  # MAIL FROM
    message_id: str
    address: str


def run_mailout(app, relay, subject: str = "News") -> tuple[int, dict[str, Received]]:
    """Send a mail-out to everyone on ``updates`` through the relay; its id and what arrived."""
    with app.app_context():
        user = _db.session.scalar(select(User).where(User.email_digest == security.email_digest(COORDINATOR)))
        mailout_id = editing.create_mailout(
            {"list": "updates", "subject": subject, "body_markdown": "Hello {{ name }}."},
            created_by=user).id
        sweep.start_sending(mailout_id)
        deadline = time.monotonic() + 120
        while send.run(mailout_id, seconds=5) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    prefix = f"<mailout-{mailout_id}."
    with relay.lock:
        arrived = [(sender, message) for sender, message in zip(relay.senders, relay.messages, strict=True)
                   if message["Message-ID"].startswith(prefix)]
    return mailout_id, {message["To"].addresses[0].addr_spec: Received(
        sender, message["Message-ID"], message["To"].addresses[0].addr_spec)
        for sender, message in arrived}


@pytest.fixture
def campaign(app, relay) -> None:
    """Four people on ``updates`` and on ``press``, and a coordinator who sends mail-outs."""
    with app.app_context():
        _db.session.add(User(email_digest=security.email_digest(COORDINATOR), email=COORDINATOR,
                             role=Role.COORDINATOR))
        make_list(4)
        press = MailingList(slug="press", name="Press", public=False)
        _db.session.add(press)
        _db.session.flush()
        for subscriber_id in _db.session.scalars(select(Subscriber.id)):
            _db.session.add(Subscription(list_id=press.id, subscriber_id=subscriber_id,
                                         status=SubscriptionStatus.SUBSCRIBED, source="test"))
        _db.session.commit()


@pytest.fixture
def received(app, relay, campaign) -> dict[str, Received]:
    """A mail-out to the four people of ``updates``, as the relay received it (by address)."""
    _mailout_id, arrived = run_mailout(app, relay)
    assert len(arrived) == 4
    return arrived


def report(name: str, sent: Received | None = None, **values: str) -> bytes:
    """A report of ``tests/reports/`` about the message ``sent``."""
    text = (REPORTS / f"{name}.eml").read_text()
    if sent is not None:
        values = {"VERP": sent.envelope, "MESSAGE_ID": sent.message_id, "RECIPIENT": sent.address,
                  **values}
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    assert "{{" not in text
    return text.encode()


def pipe(app, raw: bytes, *args: str, **env: str):
    return app.test_cli_runner().invoke(args=["bounce-mail", *args], input=raw, env=env or None)


def statuses(app, email: str) -> dict[str, SubscriptionStatus]:
    """The address's subscription status on each list."""
    with app.app_context():
        return dict(_db.session.execute(
            select(MailingList.slug, Subscription.status)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.email_digest == security.email_digest(email))).all())


def suppressions(app) -> set[tuple[str, int | None, SuppressionReason]]:
    with app.app_context():
        return {tuple(row) for row in _db.session.execute(
            select(Suppression.email_digest, Suppression.list_id, Suppression.reason))}


def digest(app, email: str) -> str:
    with app.app_context():
        return security.email_digest(email)


def delivery_reports(app) -> dict[str, ReportKind | None]:
    """The report recorded on each delivery, by the recipient's address."""
    with app.app_context():
        return {email: kind for email, kind in _db.session.execute(
            select(Subscriber.email, Delivery.reported)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id))}


def counters(app, mailout_id: int) -> tuple[int, int, MailoutStatus]:
    with app.app_context():
        mailout = _db.session.get(Mailout, mailout_id)
        return mailout.bounced_count, mailout.complained_count, mailout.status


SUBSCRIBED = {"updates": SubscriptionStatus.SUBSCRIBED, "press": SubscriptionStatus.SUBSCRIBED}
BOUNCED = {"updates": SubscriptionStatus.BOUNCED, "press": SubscriptionStatus.BOUNCED}
COMPLAINED = {"updates": SubscriptionStatus.COMPLAINED, "press": SubscriptionStatus.UNSUBSCRIBED}


# -- the envelope sender -----------------------------------------------------------------


def test_each_message_of_a_mailout_leaves_with_its_own_signed_envelope_sender(app, received):
    with app.app_context():
        rows = dict(_db.session.execute(
            select(Subscriber.email, Delivery.id).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        ).all())
        mailout_id = _db.session.scalar(select(Mailout.id))
        for email, sent in received.items():
            token = VERP_ADDRESS.fullmatch(sent.envelope).group(1)
            assert len(sent.envelope.split("@")[0]) < 64  # a local part's limit (RFC 5321)
            tag = verp.Tag(verp.Sent.MAILOUT, (mailout_id, rows[email]))
            assert verp.read_token(token) == tag
            assert verp.read_token(token.upper()) == tag  # an MTA that changes the case
            # The Message-ID carries the same signature: a report that quotes only it names the delivery.
            assert sent.message_id == f"<mailout-{mailout_id}.delivery-{rows[email]}.{token[-16:]}@objectwar.test>"
    assert len({sent.envelope for sent in received.values()}) == 4


def test_confirmations_and_notices_leave_with_their_own_envelope_sender(app, relay, demo):
    from objectwar.mail import notices
    from objectwar.petitions import signing
    from tests.signing_support import SLUG, person

    with app.app_context():
        signature_id = signing.sign(SLUG, person(email="anna@example.org"), default_locale="en").signature_id
        assert signing.send_confirmation(signature_id)
        subscription_id = subscribe.request_subscription(
            "updates", {"email": "ben@example.org", "consent": "y"}, default_locale="en")
        assert subscribe.send_subscription_confirmation(subscription_id)
        user = User(email_digest=security.email_digest(COORDINATOR), email=COORDINATOR,
                    role=Role.COORDINATOR)
        _db.session.add(user)
        _db.session.flush()
        notice = notices.queue(NoticeKind.PASSWORD_RESET, user.id, COORDINATOR, "en")
        _db.session.commit()
        notice_id = notice.id
        assert notices.deliver(notice_id)
        tags = [verp.read_token(VERP_ADDRESS.fullmatch(sender).group(1)) for sender in relay.senders]
    assert tags == [verp.Tag(verp.Sent.SIGNATURE, (signature_id,)),
                    verp.Tag(verp.Sent.SUBSCRIPTION, (subscription_id,)),
                    verp.Tag(verp.Sent.NOTICE, (notice_id,))]
    assert [m["To"].addresses[0].addr_spec for m in relay.messages] == [
        "anna@example.org", "ben@example.org", COORDINATOR]


def test_the_bounce_address_is_configurable(app):
    with app.app_context():
        assert verp.bounce_address() == "bounces@objectwar.test"  # MAIL_DEFAULT_SENDER's domain
        app.config["BOUNCE_ADDRESS"] = "return@mx.campaign.example"
        assert verp.envelope_sender(verp.Sent.NOTICE, 7).startswith("return+n7-")
        assert verp.envelope_sender(verp.Sent.NOTICE, 7).endswith("@mx.campaign.example")


# -- real reports, each with its effect -----------------------------------------------------


@pytest.mark.parametrize(("name", "effect"), [
    ("postfix_hard", "hard"), ("exim_hard", "hard"), ("gmail_hard", "hard"),
    ("postfix_soft", "soft"), ("arf_complaint", "complaint"),
])
def test_a_report_has_its_effect_once(app, received, caplog, name, effect):
    person, others = address(1), [address(i) for i in (0, 2, 3)]
    raw = report(name, received[person])
    with caplog.at_level(logging.INFO):
        result = pipe(app, raw)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    mailout_id = 1
    expected = {"hard": BOUNCED, "soft": SUBSCRIBED, "complaint": COMPLAINED}[effect]
    assert statuses(app, person) == expected
    assert all(statuses(app, other) == SUBSCRIBED for other in others)
    assert delivery_reports(app) == {person: ReportKind(effect), **dict.fromkeys(others)}
    assert counters(app, mailout_id) == ({"hard": 1}.get(effect, 0), {"complaint": 1}.get(effect, 0),
                                         MailoutStatus.SENT)
    reason = {"hard": SuppressionReason.BOUNCED, "complaint": SuppressionReason.COMPLAINED}.get(effect)
    assert suppressions(app) == ({(digest(app, person), None, reason)} if reason else set())
    assert f"{effect} report for mailout {mailout_id}/" in caplog.text and ": recorded" in caplog.text
    assert person not in caplog.text and "person00001" not in caplog.text
    # The relay sends it again (or the MTA delivers it twice): nothing more happens.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        again = pipe(app, raw)
    assert again.exit_code == 0
    assert "already recorded" in caplog.text
    assert statuses(app, person) == expected
    assert counters(app, mailout_id)[:2] == ({"hard": 1}.get(effect, 0), {"complaint": 1}.get(effect, 0))
    assert len(suppressions(app)) == (1 if reason else 0)


@pytest.mark.parametrize("name", ["not_a_report", "foreign_hard"])
def test_a_message_that_is_no_report_of_ours_changes_nothing_and_exits_0(app, received, caplog, name):
    sent = received[address(0)]
    raw = report(name, sent) if name == "not_a_report" else report(name)
    with app.app_context():  # the foreign report names a delivery that exists here too
        assert _db.session.get(Delivery, 1).mailout_id == 1
    with caplog.at_level(logging.INFO):
        result = pipe(app, raw)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert all(statuses(app, address(i)) == SUBSCRIBED for i in range(4))
    assert set(delivery_reports(app).values()) == {None}
    assert suppressions(app) == set()
    assert counters(app, 1) == (0, 0, MailoutStatus.SENT)
    expected = "not a report" if name == "not_a_report" else "token does not verify"
    assert f"message ignored: {expected}" in caplog.text
    assert address(0) not in caplog.text and "person00000" not in caplog.text


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe\x00Subject: =?utf-8?b?####?=\r\n\r\n\x00\x01",
                                 b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n"])
def test_garbage_is_no_report(app, received, raw):
    result = pipe(app, raw)
    assert result.exit_code == 0, result.output
    assert all(statuses(app, address(i)) == SUBSCRIBED for i in range(4))


def test_the_report_s_claim_of_an_address_alone_is_never_enough(app, received):
    # A complaint that names a subscriber's address but nothing we signed (an unknown
    # Message-ID, no VERP token) changes nothing.
    raw = report("arf_complaint", received[address(1)], MESSAGE_ID="<CAF3x9=q@mail.example>")
    raw = raw.replace(b"Original-Rcpt-To: redacted@mail.provider.example",
                      f"Original-Rcpt-To: {address(1)}".encode())
    raw = raw.replace(b"To: redacted@mail.provider.example", f"To: {address(1)}".encode())
    assert pipe(app, raw).exit_code == 0
    assert statuses(app, address(1)) == SUBSCRIBED
    assert suppressions(app) == set()


def test_a_report_without_the_mta_s_header_is_found_by_the_pipe_s_recipient_or_its_copy(app, received):
    # Exim's report quotes nothing: without its Envelope-to, only the pipe's recipient names it.
    exim = report("exim_hard", received[address(1)])
    exim = re.sub(rb"Envelope-to: [^\n]*\n", b"", exim)
    exim = exim.replace(received[address(1)].envelope.encode(), b"bounces@objectwar.test")
    assert pipe(app, exim).exit_code == 0
    assert statuses(app, address(1)) == SUBSCRIBED  # nothing names the delivery
    assert pipe(app, exim, ORIGINAL_RECIPIENT=received[address(1)].envelope).exit_code == 0
    assert statuses(app, address(1)) == BOUNCED
    assert pipe(app, exim, "--recipient", received[address(2)].envelope).exit_code == 0
    assert statuses(app, address(2)) == BOUNCED
    # Gmail's report without Delivered-To: its copy of the message's Message-ID.
    gmail = report("gmail_hard", received[address(3)])
    gmail = re.sub(rb"Delivered-To: [^\n]*\n", b"", gmail)
    gmail = gmail.replace(received[address(3)].envelope.encode(), b"bounces@objectwar.test")
    assert pipe(app, gmail).exit_code == 0
    assert statuses(app, address(3)) == BOUNCED


def test_three_soft_bounces_in_a_row_make_the_address_bounced(app, relay, campaign):
    person = address(1)
    sent = [run_mailout(app, relay, f"News {n}")[1][person] for n in range(4)]
    for n in (0, 1):
        assert pipe(app, report("postfix_soft", sent[n])).exit_code == 0
    assert statuses(app, person) == SUBSCRIBED  # two only count
    # The third mail-out reached the person (no report); the fourth bounced softly: no run of three.
    assert pipe(app, report("postfix_soft", sent[3])).exit_code == 0
    assert statuses(app, person) == SUBSCRIBED
    # The third one's report comes late: now three in a row (the second, third and fourth).
    assert pipe(app, report("postfix_soft", sent[2])).exit_code == 0
    assert statuses(app, person) == BOUNCED
    assert suppressions(app) == {(digest(app, person), None, SuppressionReason.BOUNCED)}
    with app.app_context():  # soft bounces are not counted as bounced deliveries
        assert set(_db.session.scalars(select(Mailout.bounced_count))) == {0}


def test_a_soft_bounce_for_another_address_breaks_no_run(app, relay, campaign):
    first = run_mailout(app, relay, "One")[1]
    second = run_mailout(app, relay, "Two")[1]
    third = run_mailout(app, relay, "Three")[1]
    for sent in (first[address(1)], second[address(2)], third[address(1)]):
        assert pipe(app, report("postfix_soft", sent)).exit_code == 0
    assert statuses(app, address(1)) == SUBSCRIBED  # the second mail-out reached person 1
    assert statuses(app, address(2)) == SUBSCRIBED


# -- after the reports: skipped by the next mail-out and by imports -----------------------------


def test_bounced_and_complained_addresses_are_skipped_by_the_next_mailout_and_by_imports(
        app, relay, received):
    assert pipe(app, report("postfix_hard", received[address(1)])).exit_code == 0
    assert pipe(app, report("arf_complaint", received[address(2)])).exit_code == 0
    _second, arrived = run_mailout(app, relay, "More news")
    assert set(arrived) == {address(0), address(3)}
    with app.app_context():
        _db.session.add(MailingList(slug="campaign", name="Campaign", public=True))
        _db.session.commit()
        people = {"subscribers": [{"email": address(1)}, {"email": address(2)}], "confirmed": True}
        for slug in ("updates", "press", "campaign"):
            summary = subscribers.import_subscribers(slug, people)
            assert (summary["added"], summary["updated"], summary["skipped"]) == (0, 0, 2), slug
    assert statuses(app, address(1)) == BOUNCED
    assert statuses(app, address(2)) == COMPLAINED


def test_only_the_person_s_own_confirmed_opt_in_brings_them_back(app, relay, received):
    assert pipe(app, report("postfix_hard", received[address(1)])).exit_code == 0
    assert pipe(app, report("arf_complaint", received[address(2)])).exit_code == 0
    with app.app_context():
        for slug in ("campaign", "other"):
            _db.session.add(MailingList(slug=slug, name=slug, public=True))
        _db.session.commit()
        for index in (1, 2):  # each confirms a subscription to "campaign" themselves
            subscribe.subscribe_confirmed("campaign", email=address(index), name=None, locale="en",
                                         country=None, source="form", consented_at=utcnow())
        _db.session.commit()
        summary = subscribers.import_subscribers(
            "other", {"subscribers": [{"email": address(1)}, {"email": address(2)}], "confirmed": True})
    # The confirmation came through: the address works again. A complaint stays for other lists.
    assert (summary["added"], summary["skipped"]) == (1, 1)
    assert statuses(app, address(1))["other"] == SubscriptionStatus.SUBSCRIBED
    assert "other" not in statuses(app, address(2))


def test_a_relay_s_refusal_is_a_hard_bounce_of_the_address(app, relay, campaign):
    relay.answers[address(1)] = "550 5.1.1 <person00001@example.org>: no such user"
    mailout_id, arrived = run_mailout(app, relay)
    assert address(1) not in arrived
    assert statuses(app, address(1)) == BOUNCED
    assert delivery_reports(app)[address(1)] == ReportKind.HARD
    assert counters(app, mailout_id) == (1, 0, MailoutStatus.SENT)
    assert suppressions(app) == {(digest(app, address(1)), None, SuppressionReason.BOUNCED)}
    with app.app_context():
        assert status.progress(_db.session.get(Mailout, mailout_id))["bounced"] == 1


# -- a confirmation email bounced ----------------------------------------------------------------


def test_a_bounced_signature_confirmation_suppresses_the_address(app, relay, demo, caplog):
    from objectwar.petitions import signing
    from objectwar.petitions.models import Signature
    from tests.signing_support import SLUG, person

    with app.app_context():
        signature_id = signing.sign(SLUG, person(email="typo@example.org"), default_locale="en").signature_id
        assert signing.send_confirmation(signature_id)
        other_id = signing.sign(SLUG, person(email="fine@example.org"), default_locale="en").signature_id
        assert signing.send_confirmation(other_id)
    message = relay.messages[0]
    sent = Received(relay.senders[0], message["Message-ID"], "typo@example.org")
    with caplog.at_level(logging.INFO):
        assert pipe(app, report("postfix_hard", sent)).exit_code == 0
    assert f"hard report for signature {signature_id}: recorded" in caplog.text
    assert suppressions(app) == {(digest(app, "typo@example.org"), None, SuppressionReason.BOUNCED)}
    with app.app_context():  # no reminder goes to it; one goes to the other signer
        _db.session.execute(update(Signature).values(confirmation_sent_at=utcnow().replace(year=2020)))
        _db.session.commit()
        assert signing.remind_unconfirmed() == [other_id]


def test_a_complaint_about_a_subscription_confirmation(app, relay, campaign):
    with app.app_context():
        _db.session.add(MailingList(slug="campaign", name="Campaign", public=True))
        _db.session.commit()
        subscription_id = subscribe.request_subscription(
            "campaign", {"email": address(1), "consent": "y"}, default_locale="en")
        assert subscribe.send_subscription_confirmation(subscription_id)
    (message,) = relay.messages
    sent = Received(relay.senders[0], message["Message-ID"], address(1))
    raw = report("arf_complaint", sent).replace(
        b"Content-Type: message/feedback-report\n\n",
        f"Content-Type: message/feedback-report\n\nOriginal-Mail-From: <{sent.envelope}>\n".encode())
    assert pipe(app, raw).exit_code == 0
    assert statuses(app, address(1)) == {"updates": SubscriptionStatus.UNSUBSCRIBED,
                                         "press": SubscriptionStatus.UNSUBSCRIBED,
                                         "campaign": SubscriptionStatus.COMPLAINED}


# -- the mail-out pauses itself ----------------------------------------------------------------------


def delivered_mailout(app, recipients: int) -> int:
    """A sending mail-out whose ``recipients`` messages the relay accepted (as workers record it)."""
    with app.app_context():
        user = User(email_digest=security.email_digest(COORDINATOR), email=COORDINATOR,
                    role=Role.COORDINATOR)
        _db.session.add(user)
        make_list(recipients)
        mailout_id = editing.create_mailout(
            {"list": "updates", "subject": "S", "body_markdown": "B"}, created_by=user).id
        sweep.start_sending(mailout_id)
        _db.session.execute(update(Delivery).values(status=DeliveryStatus.SENT, sent_at=utcnow()))
        _db.session.execute(update(Mailout).values(sent_count=recipients))
        _db.session.commit()
    return mailout_id


def complaint_for(app, mailout_id: int, delivery_id: int) -> bytes:
    with app.app_context():
        return report("arf_complaint", MESSAGE_ID=verp.message_id(mailout_id, delivery_id))


def hard_bounce_for(app, mailout_id: int, delivery_id: int) -> bytes:
    with app.app_context():
        sent = Received(verp.envelope_sender(verp.Sent.MAILOUT, mailout_id, delivery_id),
                        verp.message_id(mailout_id, delivery_id), address(delivery_id - 1))
    return report("postfix_hard", sent)


def test_a_mailout_pauses_itself_past_0_3_percent_of_complaints_and_tells_its_coordinator(app, relay):
    mailout_id = delivered_mailout(app, 400)
    assert pipe(app, complaint_for(app, mailout_id, 1)).exit_code == 0
    assert counters(app, mailout_id) == (0, 1, MailoutStatus.SENDING)  # 0.25 %
    assert pipe(app, complaint_for(app, mailout_id, 2)).exit_code == 0
    assert counters(app, mailout_id) == (0, 2, MailoutStatus.PAUSED)  # 0.5 %
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mailout.paused_on_reports"))
        assert event.details["reason"] == "complaints" and event.details["complained"] == 2
        (notice,) = _db.session.scalars(select(Notice))
        assert (notice.kind, notice.target_id, notice.recipient) == (
            NoticeKind.MAILOUT_REPORTS, mailout_id, COORDINATOR)
        assert notice.sent_at is not None  # queued at once (tasks run inline here)
    (email,) = [m for m in relay.messages if m["To"].addresses[0].addr_spec == COORDINATOR]
    assert email["Subject"] == f"Mail-out {mailout_id} paused: too many bounces or spam complaints"
    text = email.get_body(("plain",)).get_content()
    assert "Of 400 messages handed to the relay, 0 bounced (0%) and 2 were reported as spam (0.5%)" in text
    # A third complaint once paused: counted, no second pause, no second email.
    assert pipe(app, complaint_for(app, mailout_id, 3)).exit_code == 0
    assert counters(app, mailout_id) == (0, 3, MailoutStatus.PAUSED)
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(Notice)) == 1


def test_a_mailout_pauses_itself_past_its_bounce_rate_only_after_200_messages(app):
    app.config["MAILOUT_BOUNCE_PAUSE"] = 0.05
    small = delivered_mailout(app, 150)
    for delivery_id in range(1, 21):  # 13 %, but of too few messages to judge
        assert pipe(app, hard_bounce_for(app, small, delivery_id)).exit_code == 0
    assert counters(app, small) == (20, 0, MailoutStatus.SENDING)
    with app.app_context():
        _db.session.execute(update(Mailout).values(sent_count=200))  # 50 more went out
        _db.session.commit()
    assert pipe(app, hard_bounce_for(app, small, 21)).exit_code == 0
    assert counters(app, small) == (21, 0, MailoutStatus.PAUSED)
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mailout.paused_on_reports"))
        assert event.details["reason"] == "bounces"


def test_a_worker_pauses_a_mailout_whose_relay_refuses_too_many_addresses(app, relay, campaign):
    with app.app_context():
        add_subscribers(_db.session.scalar(select(MailingList).where(MailingList.slug == "updates")),
                        range(4, 300))
        _db.session.commit()
    for index in range(0, 300, 12):  # one in twelve (8 %), never twenty errors in a row
        relay.answers[address(index)] = "550 5.1.1 no such user"
    mailout_id, _arrived = run_mailout(app, relay)
    bounced, _complained, status = counters(app, mailout_id)
    assert status == MailoutStatus.PAUSED
    assert 200 * 0.05 < bounced < 300 * 0.09
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mailout.paused_on_reports"))
        assert event.details["reason"] == "bounces"
        assert _db.session.scalar(select(Notice.kind)) == NoticeKind.MAILOUT_REPORTS


def test_the_api_and_the_page_show_the_counts_and_rates(app, client, people, received, auth):
    from objectwar.accounts.services import create_api_token

    assert pipe(app, report("postfix_hard", received[address(1)])).exit_code == 0
    assert pipe(app, report("arf_complaint", received[address(2)])).exit_code == 0
    with app.app_context():
        coordinator = _db.session.get(User, people.coordinator)
        token = create_api_token(coordinator.email, "test")
    answer = client.get("/api/v1/mailouts/1", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["bounced"], body["complained"]) == (1, 1)
    assert (body["bounce_rate"], body["complaint_rate"]) == (0.25, 0.25)
    page = auth.coordinator().get("/admin/mailouts/1").get_data(as_text=True)
    assert re.search(r"<dt>Bounced</dt><dd[^>]*>1 \(25%\)</dd>", page)
    assert re.search(r"<dt>Reported as spam</dt><dd[^>]*>1 \(25%\)</dd>", page)


# -- a Maildir, and a database that cannot be reached -------------------------------------------------


def maildir(tmp_path: Path, messages: dict[str, bytes]) -> Path:
    for folder in ("new", "cur", "tmp"):
        (tmp_path / "bounces" / folder).mkdir(parents=True)
    for name, raw in messages.items():
        (tmp_path / "bounces" / "new" / name).write_bytes(raw)
    return tmp_path / "bounces"


def test_a_maildir_is_handled_message_by_message(app, received, tmp_path):
    names = ["postfix_hard", "arf_complaint", "postfix_soft", "not_a_report", "foreign_hard"]
    people = [address(1), address(2), address(3), address(0), None]
    box = maildir(tmp_path, {
        f"17955{index}.M{index}P1.mail.objectwar.test": report(name, received[person] if person else None)
        for index, (name, person) in enumerate(zip(names, people, strict=True))})
    result = pipe(app, b"", "--maildir", str(box))
    assert result.exit_code == 0, result.output
    assert "5 message(s) handled or ignored, 0 kept for a retry" in result.output
    assert list((box / "new").iterdir()) == []
    assert sorted(p.name for p in (box / "cur").iterdir()) == [
        f"17955{index}.M{index}P1.mail.objectwar.test:2,S" for index in range(5)]
    assert statuses(app, address(1)) == BOUNCED
    assert statuses(app, address(2)) == COMPLAINED
    assert statuses(app, address(3)) == SUBSCRIBED
    assert counters(app, 1) == (1, 1, MailoutStatus.SENT)


def test_an_unreachable_database_is_a_temporary_failure(app, received, tmp_path, instance_dir):
    raw = report("postfix_hard", received[address(1)])
    broken = make_app("postgresql+psycopg://nobody@127.0.0.1:1/nothing", instance_dir)
    assert pipe(broken, raw).exit_code == 75  # EX_TEMPFAIL: the MTA keeps it and retries
    box = maildir(tmp_path, {"1.M1P1.host": raw, "2.M2P1.host": raw})
    result = pipe(broken, b"", "--maildir", str(box))
    assert result.exit_code == 75
    assert sorted(p.name for p in (box / "new").iterdir()) == ["1.M1P1.host", "2.M2P1.host"]
    assert statuses(app, address(1)) == SUBSCRIBED
    # Once the database is back, the kept messages are handled.
    assert pipe(app, b"", "--maildir", str(box)).exit_code == 0
    assert statuses(app, address(1)) == BOUNCED
    assert list((box / "new").iterdir()) == []


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("delivered", "bounced", "complained", "reason"), [
    (199, 100, 100, None), (200, 10, 0, None), (200, 11, 0, "bounces"),
    (1000, 0, 3, None), (1000, 0, 4, "complaints"), (1000, 60, 4, "complaints"),
])
def test_the_pause_rule(app, delivered, bounced, complained, reason):
    with app.app_context():
        assert bounces.pause_reason(delivered, bounced, complained) == reason
