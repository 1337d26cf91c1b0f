"""Mail-outs delivered by real worker processes through a real SMTP server.

The test process queues work in the same storage as the workers (the SQLite
queue file of a shared instance folder, or Redis with ``REDIS_URL``) and reads
the same database; the workers use the development configuration with the
test suite's keys, so that both decrypt the same addresses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from objectwar import tasks
from objectwar.extensions import db
from objectwar.mailing import list_admin, unsubscribe
from objectwar.mailing.models import Delivery, DeliveryStatus, MailoutStatus, Subscriber
from objectwar.mailouts import editing, queries, status, sweep
from tests.conftest import REDIS_URL, _empty_tables, make_app
from tests.factories import address, make_list

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLAIM_SECONDS = 3


class Workers:
    """Starts worker processes on the test's database, queue and relay; stops them all."""

    def __init__(self, app, env: dict[str, str], log_dir: Path) -> None:
        self.app = app
        self.env = env
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self, threads: int = 1, claim_seconds: float = CLAIM_SECONDS) -> subprocess.Popen:
        """One ``flask worker`` process with ``threads`` threads and that claim lease."""
        log = open(self.log_dir / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
        env = {**self.env, "DELIVERY_CLAIM_SECONDS": str(claim_seconds)}
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", str(threads)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.log_dir.glob("*.log")))

    def wait_until_sent(self, mailout_id: int, timeout: float = 300.0) -> dict:
        """Wait for the mail-out's row to say ``sent`` (a generous bound: a loaded machine is slow)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.app.app_context():
                numbers = status.progress(queries.get_mailout(mailout_id))
                db.session.remove()
            if numbers["status"] == MailoutStatus.SENT:
                return numbers
            time.sleep(0.3)
        raise AssertionError(f"not sent in time: {numbers}\n{self.logs()}")


@pytest.fixture
def workers(backend, database_urls, relay, tmp_path):
    """An app sharing queue, database and relay with the worker processes it starts."""
    instance = tmp_path / "instance"
    url = database_urls[backend]
    app = make_app(url, str(instance), TASKS_IMMEDIATE=False, REDIS_URL=REDIS_URL or None,
                   DELIVERY_CLAIM_SECONDS=CLAIM_SECONDS, MAIL_RETRY_SECONDS=1, **relay.config())
    with app.app_context():
        _empty_tables()
    tasks.huey.flush()
    env = {key: value for key, value in os.environ.items()
           if key not in {"REDIS_URL", "TASKS_IMMEDIATE", "FLASK_APP"}}
    env.update({
        "FLASK_CONFIG": "development", "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
        "SECRET_KEY": app.config["SECRET_KEY"], "DATA_KEY": app.config["DATA_KEY"],
        "PUBLIC_URL": app.config["PUBLIC_URL"], "MAIL_DEFAULT_SENDER": app.config["MAIL_DEFAULT_SENDER"],
        "MAIL_SERVER": relay.host, "MAIL_PORT": str(relay.port),
        "DELIVERY_CLAIM_SECONDS": str(CLAIM_SECONDS), "MAIL_RETRY_SECONDS": "1",
    })
    if REDIS_URL:
        env["REDIS_URL"] = REDIS_URL
    running = Workers(app, env, tmp_path)
    yield running
    running.stop_all()
    tasks.huey.flush()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def start_mailout(app, recipients: int, rate_per_minute: int = 1_000_000) -> int:
    with app.app_context():
        make_list(recipients)
        mailout = editing.create_mailout({"list": "updates", "subject": "News",
                                           "body_markdown": "Hello {{ name }}",
                                           "rate_per_minute": rate_per_minute})
        sweep.start_sending(mailout.id)
        tasks.enqueue_mailout(mailout.id)
        mailout_id = mailout.id
        db.session.remove()
    return mailout_id


def test_a_killed_worker_loses_no_one_and_sends_at_most_one_twice(workers, relay, busy_cores):
    mailout_id = start_mailout(workers.app, 2000)
    first = workers.start(threads=1)
    relay.wait_for(300, timeout=180)
    assert relay.count() >= 300, workers.logs()
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Someone still waiting for the mail-out unsubscribes meanwhile.
    with workers.app.app_context():
        waiting = db.session.scalar(
            select(Delivery.subscriber_id).where(Delivery.mailout_id == mailout_id,
                                                 Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.id.desc()).limit(1))
        mailing_list = list_admin.get_list("updates")
        unsubscribe.unsubscribe(unsubscribe.unsubscribe_token(waiting, mailing_list.id))
        gone = db.session.get(Subscriber, waiting).email
        db.session.remove()
    workers.start(threads=2)
    numbers = workers.wait_until_sent(mailout_id)

    received = relay.recipients()
    expected = {address(i) for i in range(2000)}
    assert gone in expected and gone not in received
    assert set(received) == expected - {gone}
    assert sum(received.values()) - len(received) <= 1  # one duplicate per killed worker at most
    assert numbers["sent"] == 1999 and numbers["failed"] == 0 and numbers["pending"] == 0
    assert relay.message_ids().most_common(1)[0][1] <= 2


def test_two_workers_never_send_one_recipient_twice(workers, relay, backend, busy_cores):
    if backend != "postgresql":
        pytest.skip("concurrent claimers: PostgreSQL")
    mailout_id = start_mailout(workers.app, 1500)
    workers.start(threads=2)
    workers.start(threads=2)
    numbers = workers.wait_until_sent(mailout_id)
    received = relay.recipients()
    assert received == {address(i): 1 for i in range(1500)}
    assert len(relay.message_ids()) == 1500
    assert numbers["sent"] == 1500


def test_relay_outage_with_a_worker_delays_but_loses_nothing(workers, relay):
    mailout_id = start_mailout(workers.app, 300)
    outage = threading.Event()

    def on_message(message):
        if len(relay.messages) == 60:
            outage.set()

    def stop_and_restart():
        if outage.wait(60):
            relay.stop()
            time.sleep(2)
            relay.start()

    relay.on_message = on_message
    thread = threading.Thread(target=stop_and_restart)
    thread.start()
    workers.start(threads=2)
    numbers = workers.wait_until_sent(mailout_id)
    thread.join()
    assert outage.is_set()
    assert set(relay.recipients()) == {address(i) for i in range(300)}
    assert numbers["failed"] == 0 and numbers["sent"] == 300


# -- a relay slower than the lease of a whole batch, on a loaded machine ----------------
#
# 60 recipients at 0.25 s each take 15 s to send, the lease is 2 s: a worker keeps its
# claims only by renewing them as it sends, and another thread or process must never
# take over rows that a live worker still holds.

SLOW_RELAY_SECONDS = 0.25
SHORT_LEASE = 2


def test_a_slow_relay_gets_every_recipient_once_from_two_threads(workers, relay, busy_cores):
    relay.delay = SLOW_RELAY_SECONDS
    mailout_id = start_mailout(workers.app, 60)
    workers.start(threads=2, claim_seconds=SHORT_LEASE)
    numbers = workers.wait_until_sent(mailout_id)
    assert relay.recipients() == {address(i): 1 for i in range(60)}, workers.logs()
    assert numbers["sent"] == 60 and numbers["failed"] == 0


def test_a_slow_relay_gets_every_recipient_once_from_two_processes(workers, relay, backend,
                                                                   busy_cores):
    if backend != "postgresql":
        pytest.skip("concurrent claimers in two processes: PostgreSQL")
    relay.delay = SLOW_RELAY_SECONDS
    mailout_id = start_mailout(workers.app, 60)
    workers.start(threads=2, claim_seconds=SHORT_LEASE)
    workers.start(threads=2, claim_seconds=SHORT_LEASE)
    numbers = workers.wait_until_sent(mailout_id)
    assert relay.recipients() == {address(i): 1 for i in range(60)}, workers.logs()
    assert numbers["sent"] == 60 and numbers["failed"] == 0


# -- the pace the coordinator set is the pace the relay sees ----------------------------


def _start_workers_for_backend(workers, backend: str) -> None:
    """Two processes of two threads on PostgreSQL (they share the throttle), one on SQLite."""
    workers.start(threads=2)
    if backend == "postgresql":
        workers.start(threads=2)


def _within_pace(moments: list[float], since: float, per_second: float) -> list[tuple[int, float]]:
    """The messages that broke ``sent <= 1 + elapsed × rate``: (their number, their second)."""
    return [(index + 1, moment - since) for index, moment in enumerate(sorted(moments))
            if index > (moment - since) * per_second + 1e-6 + 0.05 * per_second]


def _wait_until(condition, timeout: float = 120.0, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def test_sixty_a_minute_is_at_most_seven_in_six_seconds_at_start_and_after_resume(
        workers, relay, backend, busy_cores):
    mailout_id = start_mailout(workers.app, 40, rate_per_minute=60)
    with workers.app.app_context():
        started = queries.get_mailout(mailout_id).started_at.timestamp()
        db.session.remove()
    _start_workers_for_backend(workers, backend)
    # Wait for six seconds of sending (and at least a few messages, however busy the machine).
    _wait_until(lambda: relay.count() >= 3 and time.time() >= started + 6.5, message=workers.logs())
    first = list(relay.received_at)
    assert len([t for t in first if t <= started + 6]) <= 7
    assert _within_pace(first, started, 1.0) == []

    with workers.app.app_context():
        status.pause(mailout_id)
        db.session.remove()

    def nothing_in_flight() -> bool:
        with workers.app.app_context():
            counts = status.delivery_counts(mailout_id)
            db.session.remove()
        return counts[DeliveryStatus.SENDING] == 0

    _wait_until(nothing_in_flight, message=workers.logs())
    before_resume = relay.count()
    with workers.app.app_context():
        resumed = time.time()
        sweep.start_sending(mailout_id)
        tasks.enqueue_mailout(mailout_id)
        db.session.remove()
    _wait_until(lambda: relay.count() >= before_resume + 3 and time.time() >= resumed + 6.5,
                message=workers.logs())
    after = relay.received_at[before_resume:]
    assert len([t for t in after if t <= resumed + 6]) <= 7
    assert _within_pace(after, resumed, 1.0) == []
    with workers.app.app_context():
        status.cancel(mailout_id)
        db.session.remove()
    assert max(relay.recipients().values()) == 1


# -- confirmation emails under the same slow relay ----------------------------------------


def test_a_slow_relay_gets_one_confirmation_per_signer(workers, relay, busy_cores):
    from objectwar.demo import seed_demo
    from objectwar.petitions import signing
    from objectwar.petitions.models import Signature
    from tests.signing_support import SLUG, person

    relay.delay = SLOW_RELAY_SECONDS
    signers = [f"signer{i:02d}@example.org" for i in range(24)]
    with workers.app.test_request_context("/"):
        seed_demo()
        ids = [signing.sign(SLUG, person(email=email), default_locale="en").signature_id
               for email in signers]
        for signature_id in ids + ids:  # every email queued twice, as a lost-and-found task would
            tasks.enqueue_signature_confirmation(signature_id)
        db.session.remove()
    workers.start(threads=2, claim_seconds=SHORT_LEASE)
    workers.start(threads=2, claim_seconds=SHORT_LEASE)

    def all_sent() -> bool:
        with workers.app.app_context():
            left = db.session.scalar(select(func.count()).select_from(Signature)
                                     .where(Signature.confirmation_sent_at.is_(None)))
            db.session.remove()
        return left == 0

    _wait_until(all_sent, timeout=300, message=workers.logs())
    _wait_until(lambda: tasks.huey.pending_count() == 0, message=workers.logs())
    workers.stop_all()  # every task has ended: nothing more can arrive
    assert relay.recipients() == dict.fromkeys(signers, 1), workers.logs()
