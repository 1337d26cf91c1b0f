"""The delivery engine, in this process, through a real SMTP server (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from objectwar import security
from objectwar.accounts.models import Role, User
from objectwar.errors import Conflict, ValidationError
from objectwar.mail import notices as notice_delivery
from objectwar.mail import retry, verp
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing import unsubscribe
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    Mailout,
    MailoutStatus,
    Subscription,
    SubscriptionStatus,
)
from objectwar.mailouts import claiming, compose, editing, send, status, sweep
from objectwar.types import utcnow
from tests.factories import add_subscribers, address, make_list


@pytest.fixture
def app_overrides(relay):
    return {**relay.config(), "MAIL_RETRY_SECONDS": 1, "DELIVERY_CLAIM_SECONDS": 60,
            "MAILOUT_BATCH_SIZE": 5, "MAILOUT_RATE_PER_MINUTE": 1_000_000}


def new_mailout(**data) -> Mailout:
    fields = {"list": "updates", "subject": "News of the campaign",
              "body_markdown": "Hello {{ name }},\n\n**Thank you.** [Leave]({{unsubscribe_url}})"}
    fields.update(data)
    return editing.create_mailout(fields)


def run_to_end(mailout_id: int, timeout: float = 180.0) -> None:
    """Run the engine as a chain of tasks would, until it says stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delay = send.run(mailout_id, seconds=10)
        if delay is None:
            return
        time.sleep(min(delay, 1.0))
    raise AssertionError("the mail-out did not finish in time")


def statuses(mailout_id: int) -> dict:
    return status.delivery_counts(mailout_id)


def test_every_recipient_gets_one_personalised_message_with_list_headers(db, relay):
    mailing_list = make_list(12, name=lambda i: "Иван Петров" if i == 3 else f"Person {i}")
    add_subscribers(mailing_list, [100], locale="ru", name=lambda i: "Олеся")
    db.session.commit()
    mailout = new_mailout(translations={"ru": {"subject": "Новости кампании",
                                               "body_markdown": "Привет, {{ name }}!"}})
    assert mailout.recipients == 13
    sweep.start_sending(mailout.id)
    run_to_end(mailout.id)

    assert relay.recipients() == {address(i): 1 for i in [*range(12), 100]}
    by_to = {m["To"].addresses[0].addr_spec: m for m in relay.messages}
    ivan = by_to[address(3)]
    assert ivan["To"].addresses[0].display_name == "Иван Петров"
    assert ivan["Subject"] == "News of the campaign"
    text = ivan.get_body(("plain",)).get_content()
    html = ivan.get_body(("html",)).get_content()
    assert "Hello Иван Петров," in text and "Hello Иван Петров," in html
    assert "<strong>Thank you.</strong>" in html
    unsubscribe_https, unsubscribe_mailto = [part.strip(" <>") for part in ivan["List-Unsubscribe"].split(",")]
    assert unsubscribe_https.startswith("https://objectwar.test/unsubscribe/")
    assert unsubscribe_mailto.startswith("mailto:unsubscribe@objectwar.test?subject=unsubscribe%20")
    assert unsubscribe_https in text and f'href="{unsubscribe_https}"' in html
    assert ivan["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ivan["List-Id"] == "List updates <updates.objectwar.test>"
    delivery_id = db.session.scalar(select(Delivery.id).join(Subscription, Subscription.subscriber_id == Delivery.subscriber_id)
                                    .where(Delivery.mailout_id == mailout.id).order_by(Delivery.id).limit(1))
    # The same signed Message-ID for every attempt (its bounce and complaint reports name it).
    assert verp.message_id(mailout.id, delivery_id) in relay.message_ids()
    assert verp.message_id(mailout.id, delivery_id).startswith(
        f"<mailout-{mailout.id}.delivery-{delivery_id}.")
    olesya = by_to[address(100)]
    assert olesya["Subject"] == "Новости кампании"
    assert "Привет, Олеся!" in olesya.get_body(("plain",)).get_content()
    assert "Привет, Олеся!" in olesya.get_body(("html",)).get_content()
    assert "Вы получили это письмо" in olesya.get_body(("plain",)).get_content()  # footer in her language

    db.session.expire_all()
    finished = db.session.get(Mailout, mailout.id)
    assert finished.status == MailoutStatus.SENT and finished.finished_at is not None
    assert (finished.sent_count, finished.failed_count) == (13, 0)
    assert status.progress(finished)["pending"] == 0


def test_coordinator_text_is_never_evaluated_as_a_template(db, relay):
    make_list(1)
    body = "{{ config }} {% for x in [1, 2] %}{{ x }}{% endfor %} {{ name.__class__ }} {{name}}"
    mailout = new_mailout(subject="{{ config.SECRET_KEY }}", body_markdown=body)
    sweep.start_sending(mailout.id)
    run_to_end(mailout.id)
    (message,) = relay.messages
    assert message["Subject"] == "{{ config.SECRET_KEY }}"
    text = message.get_body(("plain",)).get_content()
    assert "{{ config }} {% for x in [1, 2] %}{{ x }}{% endfor %} {{ name.__class__ }} Person 0" in text
    html = message.get_body(("html",)).get_content()
    assert "{{ config }}" in html and "{% for x in [1, 2] %}" in html
    assert "test-secret-key" not in text + html


def test_markdown_is_cleaned_and_names_are_escaped_in_html(db, relay):
    make_list(1, name=lambda i: "<b>Bob</b>")
    mailout = new_mailout(body_markdown="Hi {{ name }} <script>alert(1)</script> <a href=\"javascript:x\" onclick=\"y\">z</a>")
    sweep.start_sending(mailout.id)
    run_to_end(mailout.id)
    html = relay.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "onclick" not in html and "javascript:" not in html
    assert "Hi &lt;b&gt;Bob&lt;/b&gt;" in html


def test_audience_filter_and_one_row_per_recipient_on_resume(db, relay):
    mailing_list = make_list(6, country="DE")
    add_subscribers(mailing_list, range(10, 14), country="FR", locale="de")
    add_subscribers(mailing_list, range(20, 22), status=SubscriptionStatus.UNSUBSCRIBED)
    db.session.commit()
    mailout = new_mailout(audience={"country": ["FR", "DE"], "locale": ["de"]})
    assert mailout.recipients == 4
    sweep.start_sending(mailout.id)
    status.pause(mailout.id)
    add_subscribers(mailing_list, [30], country="FR", locale="de")  # joins after the start
    db.session.commit()
    sweep.start_sending(mailout.id)  # resume: no new rows
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 4
    run_to_end(mailout.id)
    assert relay.recipients() == {address(i): 1 for i in range(10, 14)}


def test_permanent_failure_fails_and_bounces_only_that_recipient(db, relay):
    make_list(6)
    relay.answers[address(2)] = "550 5.1.1 no such user"
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    run_to_end(mailout.id)
    assert set(relay.recipients()) == {address(i) for i in range(6)} - {address(2)}
    counts = statuses(mailout.id)
    assert counts[DeliveryStatus.FAILED] == 1 and counts[DeliveryStatus.SENT] == 5
    failed = db.session.scalar(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED))
    assert failed.last_error.startswith("550")
    subscription = db.session.scalar(select(Subscription).where(Subscription.subscriber_id == failed.subscriber_id))
    assert subscription.status == SubscriptionStatus.BOUNCED
    db.session.expire_all()
    assert db.session.get(Mailout, mailout.id).failed_count == 1


def test_transient_failure_is_retried_later_with_a_growing_delay(db, relay):
    make_list(3)
    relay.answers[address(1)] = "451 4.7.1 try again later"
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    send.run(mailout.id, seconds=2)
    row = db.session.scalar(select(Delivery).where(Delivery.status == DeliveryStatus.PENDING))
    assert row is not None and row.attempts == 1 and row.last_error.startswith("451")
    assert row.next_attempt_at > utcnow()
    assert retry.delay(1) == 1 and retry.delay(3) == 4
    del relay.answers[address(1)]
    run_to_end(mailout.id)
    assert relay.recipients() == {address(i): 1 for i in range(3)}
    assert statuses(mailout.id)[DeliveryStatus.FAILED] == 0


def test_too_many_errors_in_a_row_pause_and_tell_the_coordinator(db, relay):
    coordinator = User(email_digest=security.email_digest("coord@objectwar.test"),
                       email="coord@objectwar.test", role=Role.COORDINATOR)
    db.session.add(coordinator)
    make_list(send.ERROR_LIMIT + 10)
    relay.answer_all = "451 4.3.0 busy"
    relay.accept.add("coord@objectwar.test")
    mailout = editing.create_mailout({"list": "updates", "subject": "S", "body_markdown": "B"},
                                      created_by=coordinator)
    sweep.start_sending(mailout.id)
    queued = []
    assert send.run(mailout.id, seconds=10, notify=queued.append) is None
    db.session.expire_all()
    paused = db.session.get(Mailout, mailout.id)
    assert paused.status == MailoutStatus.PAUSED
    assert paused.consecutive_errors >= send.ERROR_LIMIT
    # The email to the coordinator is a row of the outbox, committed with the pause.
    (notice,) = db.session.scalars(select(Notice))
    assert queued == [notice.id] and notice.kind == NoticeKind.MAILOUT_PAUSED
    assert notice.recipient == "coord@objectwar.test" and notice.due_at is not None
    assert relay.messages == []
    assert notice_delivery.deliver(notice.id) is True
    assert [m["To"].addresses[0].addr_spec for m in relay.messages] == ["coord@objectwar.test"]
    assert f"Mail-out {mailout.id}" in relay.messages[0]["Subject"]
    assert f"/admin/mailouts/{mailout.id}" in relay.messages[0].get_body(("plain",)).get_content()
    assert statuses(mailout.id)[DeliveryStatus.FAILED] == 0  # transient: kept for the resume


def test_unsubscribe_during_a_running_mailout_takes_effect(db, app, relay):
    mailing_list = make_list(40)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    target = db.session.scalar(select(Subscription).where(Subscription.list_id == mailing_list.id)
                               .order_by(Subscription.id.desc()).limit(1))
    token = unsubscribe.unsubscribe_token(target.subscriber_id, mailing_list.id)
    client = app.test_client()
    answers = []

    def on_message(message):
        if len(relay.messages) == 3 and not answers:  # in the server's thread, mid-send
            answers.append(client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code)

    relay.on_message = on_message
    run_to_end(mailout.id)
    assert answers == [200]
    assert address(39) not in relay.recipients()
    assert relay.recipients() == {address(i): 1 for i in range(39)}
    assert statuses(mailout.id)[DeliveryStatus.SKIPPED] == 1


def test_an_unsubscribe_takes_effect_for_the_next_message_of_the_batch(db, app, relay):
    mailing_list = make_list(5)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    subscriptions = list(db.session.scalars(select(Subscription).order_by(Subscription.id)))
    token = unsubscribe.unsubscribe_token(subscriptions[2].subscriber_id, mailing_list.id)
    client = app.test_client()

    def on_message(message):
        # While the relay holds message 2, recipient 3 (claimed in the same batch) leaves.
        if message["To"].addresses[0].addr_spec == address(1):
            client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})

    relay.on_message = on_message
    run_to_end(mailout.id)
    assert relay.recipients() == {address(i): 1 for i in (0, 1, 3, 4)}
    assert statuses(mailout.id)[DeliveryStatus.SKIPPED] == 1


def sending_until(app, relay, recipients: int, received: int, action) -> Mailout:
    """A mail-out to ``recipients`` whose coordinator calls ``action`` while the relay is still
    taking message number ``received`` (before its 250); run until the engine stops."""
    make_list(recipients)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)

    def on_message(message):
        if len(relay.messages) == received:
            with app.app_context():
                action(mailout.id)

    relay.on_message = on_message
    assert send.run(mailout.id, seconds=20) is None
    relay.on_message = None
    return mailout


def test_pause_stops_within_one_message_and_resume_sends_nobody_twice(db, app, relay):
    mailout = sending_until(app, relay, 60, 7, status.pause)
    assert relay.count() == 7  # paused before the 7th message's 250: nothing more leaves
    db.session.expire_all()
    assert db.session.get(Mailout, mailout.id).status == MailoutStatus.PAUSED
    assert db.session.get(Mailout, mailout.id).sent_count == 7
    with pytest.raises(Conflict):
        status.pause(mailout.id)
    sweep.start_sending(mailout.id)
    run_to_end(mailout.id)
    assert relay.recipients() == {address(i): 1 for i in range(60)}


def test_cancel_stops_within_one_message_and_sends_no_one_afterwards(db, app, relay):
    mailout = sending_until(app, relay, 30, 3, status.cancel)
    assert relay.count() == 3
    counts = statuses(mailout.id)
    assert counts[DeliveryStatus.SENT] == 3 and counts[DeliveryStatus.SENDING] == 0
    assert send.run(mailout.id, seconds=2) is None and relay.count() == 3


def test_throttle_holds_from_the_first_second(db, relay):
    """At 120 a minute the k-th message leaves no sooner than (k - 1) / 2 s after the start."""
    make_list(200)
    mailout = new_mailout(rate_per_minute=120)
    started = time.time()
    sweep.start_sending(mailout.id)
    deadline = time.monotonic() + 120
    while relay.count() < 8 and time.monotonic() < deadline:
        send.run(mailout.id, seconds=1)
    assert relay.count() >= 8
    for index, moment in enumerate(relay.received_at):
        assert moment - started >= index / 2 - 0.05, (index, moment - started)


def test_relay_outage_delays_mail_and_loses_none(db, relay):
    make_list(80)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    outage = threading.Event()

    def on_message(message):
        if len(relay.messages) == 20 and not outage.is_set():
            outage.set()

    def stop_and_restart():
        outage.wait(30)
        relay.stop()
        time.sleep(2)
        relay.start()

    relay.on_message = on_message
    thread = threading.Thread(target=stop_and_restart)
    thread.start()
    run_to_end(mailout.id)
    thread.join()
    assert outage.is_set()
    assert set(relay.recipients()) == {address(i) for i in range(80)}
    assert sum(relay.recipients().values()) <= 81  # one message may be lost after its 250
    counts = statuses(mailout.id)
    assert counts[DeliveryStatus.FAILED] == 0 and counts[DeliveryStatus.SENT] == 80


def test_claims_of_a_dead_worker_go_back_to_pending(db, app, relay):
    make_list(8)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    claim = claiming.claim_batch(mailout.id, 5)
    assert len(claim.rows) == 5  # ...and the worker that claimed them dies here
    db.session.execute(update(Delivery).where(Delivery.id.in_(claim.rows))
                       .values(claimed_at=utcnow() - timedelta(seconds=61)))
    db.session.commit()
    run_to_end(mailout.id)
    assert relay.recipients() == {address(i): 1 for i in range(8)}


def test_a_late_worker_cannot_mark_a_reclaimed_delivery(db, relay):
    make_list(1)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    first = claiming.claim_batch(mailout.id, 5)
    db.session.execute(update(Delivery).values(claimed_at=utcnow() - timedelta(seconds=61)))
    db.session.commit()
    second = claiming.claim_batch(mailout.id, 5)
    assert second.rows == first.rows and second.token != first.token
    subscriber_id = db.session.scalar(select(Delivery.subscriber_id))
    late = send.Marks(mailout.id, mailout.list_id, first.token, first.epoch)
    assert late.hold(first.rows[0], subscriber_id)[0] is False  # so it is not sent
    assert not late.delivery(first.rows[0], status=DeliveryStatus.SENT)
    late.close()
    holder = send.Marks(mailout.id, mailout.list_id, second.token, second.epoch)
    assert holder.hold(first.rows[0], subscriber_id)[0]
    assert holder.delivery(first.rows[0], status=DeliveryStatus.SENT)
    holder.close()


def test_sweep_requeues_quiet_mailouts_finishes_done_ones_and_starts_scheduled(db, relay):
    mailing_list = make_list(3)
    quiet = new_mailout()
    sweep.start_sending(quiet.id)
    assert sweep.sweep() == []  # just claimed by nobody, but just started: not quiet yet
    assert sweep.sweep(idle_seconds=0) == [quiet.id]
    done = new_mailout()
    sweep.start_sending(done.id)
    db.session.execute(update(Delivery).where(Delivery.mailout_id == done.id).values(status=DeliveryStatus.SENT))
    db.session.commit()
    sweep.sweep(idle_seconds=0)
    db.session.expire_all()
    assert db.session.get(Mailout, done.id).status == MailoutStatus.SENT
    assert db.session.get(Mailout, done.id).sent_count == 3
    later = new_mailout()
    editing.schedule(later.id, utcnow() + timedelta(seconds=1))
    assert sweep.start_due_scheduled() == []
    time.sleep(1.1)
    assert sweep.start_due_scheduled() == [later.id]
    db.session.expire_all()
    assert db.session.get(Mailout, later.id).status == MailoutStatus.SENDING
    assert mailing_list.id


def test_status_machine_refuses_wrong_moves(db, relay):
    make_list(1)
    mailout = new_mailout()
    with pytest.raises(Conflict):
        status.pause(mailout.id)
    status.cancel(mailout.id)
    with pytest.raises(Conflict):
        sweep.start_sending(mailout.id)
    with pytest.raises(ValidationError):
        editing.schedule(mailout.id, utcnow() - timedelta(minutes=1))


def test_bad_mailout_input_is_refused_field_by_field(db, relay):
    make_list(1)
    with pytest.raises(ValidationError) as caught:
        editing.create_mailout({"list": "nope", "subject": "", "body_markdown": 5,
                                 "rate_per_minute": 0, "audience": {"country": ["XX"], "locale": "de"},
                                 "translations": {"fr": {"subject": "x", "body_markdown": "y"}, "de": []}})
    errors = caught.value.errors
    assert {"subject", "body_markdown", "rate_per_minute", "audience.country", "audience.locale",
            "translations.fr", "translations.de"} <= set(errors)
    with pytest.raises(ValidationError) as caught:
        editing.create_mailout({"list": "nope", "subject": "Line\nbreak", "body_markdown": "x"})
    assert set(caught.value.errors) == {"subject"}
    with pytest.raises(ValidationError) as caught:
        editing.create_mailout({"list": "nope", "subject": "S", "body_markdown": "x"})
    assert set(caught.value.errors) == {"list"}
    assert db.session.scalar(select(func.count()).select_from(Mailout)) == 0


def test_unsubscribe_skips_pending_deliveries(db, relay):
    mailing_list = make_list(3)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    subscription = db.session.scalar(select(Subscription).order_by(Subscription.id).limit(1))
    unsubscribe.unsubscribe(unsubscribe.unsubscribe_token(subscription.subscriber_id, mailing_list.id))
    assert statuses(mailout.id)[DeliveryStatus.SKIPPED] == 1
    run_to_end(mailout.id)
    assert relay.recipients() == {address(1): 1, address(2): 1}


def test_tasks_requeue_work_and_schedule_sweeps(database_urls, backend, relay, tmp_path):
    """The queue wiring: sweeps every 5 s, chains for quiet mail-outs, a chain that re-queues itself."""
    from objectwar import tasks
    from tests.conftest import _empty_tables, make_app

    app = make_app(database_urls[backend], str(tmp_path), TASKS_IMMEDIATE=False,
                   MAILOUT_BATCH_SIZE=5, **relay.config())
    with app.app_context():
        _empty_tables()
        tasks.huey.flush()
        make_list(30)
        mailout = new_mailout(rate_per_minute=6)
        sweep.start_sending(mailout.id)
        tasks.schedule_mailout_sweeps.call_local()
        # Tasks with a delay wait in the queue until a consumer moves them to its schedule.
        assert tasks.huey.pending_count() == 60 // tasks.SWEEP_EVERY_SECONDS
        tasks.huey.flush()
        tasks.sweep_mailouts.call_local(0)  # quiet with due work: chains are queued
        assert tasks.huey.pending_count() == tasks.MAILOUT_CHAINS
        tasks.huey.flush()
        tasks.deliver_batch.call_local(mailout.id)  # the one token of the start, then the throttle
        assert relay.count() == 1
        assert tasks.huey.scheduled_count() + tasks.huey.pending_count() == 1
        tasks.huey.flush()
        _db = send.db
        _db.session.remove()
        _db.engine.dispose()


def test_a_record_that_cannot_be_built_fails_alone(db, relay, monkeypatch):
    make_list(4)
    build = compose.Snapshot.message

    def broken_for_one(self, delivery_id, subscriber_id, to, name, locale):
        if to == address(1):
            raise ValueError("a bug in building one message")
        return build(self, delivery_id, subscriber_id, to, name, locale)

    monkeypatch.setattr(compose.Snapshot, "message", broken_for_one)
    mailout = new_mailout()
    sweep.start_sending(mailout.id)
    run_to_end(mailout.id)
    assert relay.recipients() == {address(i): 1 for i in (0, 2, 3)}
    counts = statuses(mailout.id)
    assert counts[DeliveryStatus.FAILED] == 1 and counts[DeliveryStatus.SENT] == 3
