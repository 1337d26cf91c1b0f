"""Benchmark of mail-out delivery; prints its figures. Loopback only, bounded in time.

    .venv/bin/python bench/mailout.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/mail_bench]
                                      [--messages 20000] [--big 100000]

Measures, into a local aiosmtpd sink (its own process) that discards messages of ~3 KB
(text + HTML):

1. raw ``smtplib`` over one connection sending one pre-built message (messages/s);
2. one worker process delivering personalised messages through the engine (messages/s and
   its ratio to 1), on SQLite and on PostgreSQL;
3. two worker processes on PostgreSQL (ratio to one worker), in ``--rounds`` pairs of
   runs, each pair beside a baseline of its own, and the medians;
4. the time to create the deliveries of a ``--big``-recipient mail-out (PostgreSQL, SQLite);
5. a worker's peak RSS while sending that big mail-out (for ``--rss-seconds``, then cancelled);
6. a relay that answers each message after 20 ms (``--slow-ms``): one worker with one thread
   and with four, against ``threads × 1000 / slow-ms`` messages per second, the most such a
   relay allows (PostgreSQL).

The PostgreSQL database given is dropped and re-created: use a scratch one.
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.keys import DATA_KEY, SECRET_KEY  # noqa: E402 (after the path)

PARAGRAPH = (
    "Since the invasion of Ukraine hundreds of thousands of men have left Russia and Belarus "
    "rather than fight. Most live with temporary papers; few have been able to ask for asylum. "
    "More than a hundred organisations across Europe ask governments to protect them. "
)
BODY = "Dear {{ name }},\n\n" + "\n\n".join([PARAGRAPH] * 5) + (
    "\n\n**Thank you** for standing with conscientious objectors, draft evaders and deserters."
    "\n\n[Unsubscribe]({{ unsubscribe_url }})"
)

SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
DELAY = float(sys.argv[2])
class Sink:
    async def handle_DATA(self, server, session, envelope):
        if DELAY:
            await asyncio.sleep(DELAY)
        return "250 OK"
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(delay: float = 0.0) -> tuple[subprocess.Popen, int]:
    """An SMTP sink in a process of its own that answers each message after ``delay`` seconds."""
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port), str(delay)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    return sink, port


def baseline(port: int, count: int) -> tuple[float, int]:
    """Raw smtplib, one connection, one pre-built message: messages per second, message size."""
    message = EmailMessage()
    message["From"] = "noreply@objectwar.test"
    message["To"] = "person@example.org"
    message["Subject"] = "News of the campaign"
    message.set_content(BODY, cte="quoted-printable")
    message.add_alternative("<p>" + BODY.replace("\n\n", "</p><p>") + "</p>", subtype="html",
                            cte="quoted-printable")
    data = message.as_bytes(policy=SMTP_POLICY)
    with smtplib.SMTP("127.0.0.1", port) as conn:
        started = time.perf_counter()
        for _ in range(count):
            conn.sendmail("noreply@objectwar.test", ["person@example.org"], data)
        elapsed = time.perf_counter() - started
    return count / elapsed, len(data)


class Setup:
    """An app on one database and queue, the worker processes it starts, test data."""

    def __init__(self, url: str, instance: Path, port: int) -> None:
        os.environ.update({"INSTANCE_PATH": str(instance), "DATABASE_URL": url,
                           "SECRET_KEY": SECRET_KEY, "DATA_KEY": DATA_KEY})
        os.environ.pop("REDIS_URL", None)
        from objectwar import create_app

        self.url = url
        self.port = port
        self.app = create_app("production", TASKS_IMMEDIATE=False, MAIL_SERVER="127.0.0.1",
                              MAIL_PORT=port, PUBLIC_URL="https://objectwar.test")
        self.env = {**os.environ, "FLASK_CONFIG": "production", "MAIL_SERVER": "127.0.0.1",
                    "MAIL_PORT": str(port), "PUBLIC_URL": "https://objectwar.test"}
        self.workers: list[subprocess.Popen] = []
        from objectwar.extensions import db

        with self.app.app_context():
            db.drop_all()
            db.create_all()

    def add_subscribers(self, count: int) -> None:
        from objectwar import security
        from objectwar.extensions import db
        from objectwar.mailing.models import (
            MailingList,
            Subscriber,
            Subscription,
            SubscriptionStatus,
        )

        with self.app.app_context():
            mailing_list = db.session.scalar(select(MailingList))
            if mailing_list is None:
                mailing_list = MailingList(slug="updates", name="Updates", public=True)
                db.session.add(mailing_list)
                db.session.commit()
            start = db.session.scalar(select(Subscriber.id).order_by(Subscriber.id.desc()).limit(1)) or 0
            for chunk in range(0, count, 5000):
                rows = []
                for index in range(start + chunk, start + min(count, chunk + 5000)):
                    address = f"person{index:07d}@example.org"
                    rows.append({"id": index + 1, "email_digest": security.email_digest(address),
                                 "email": address, "name": f"Иван {index}", "locale": "en",
                                 "country": "DE"})
                db.session.execute(insert(Subscriber), rows)
                db.session.execute(insert(Subscription), [
                    {"list_id": mailing_list.id, "subscriber_id": row["id"], "source": "bench",
                     "status": SubscriptionStatus.SUBSCRIBED} for row in rows])
                db.session.commit()

    def new_mailout(self) -> int:
        from objectwar.extensions import db
        from objectwar.mailouts import editing

        with self.app.app_context():
            mailout = editing.create_mailout({"list": "updates", "subject": "News of the campaign",
                                               "body_markdown": BODY, "rate_per_minute": 1_000_000})
            mailout_id = mailout.id
            db.session.remove()
        return mailout_id

    def start_sending(self, mailout_id: int) -> tuple[float, int]:
        """Create the deliveries; returns the seconds it took and how many rows it made."""
        from objectwar.extensions import db
        from objectwar.mailouts import sweep

        with self.app.app_context():
            started = time.perf_counter()
            mailout = sweep.start_sending(mailout_id)
            elapsed = time.perf_counter() - started
            recipients = mailout.recipients
            db.session.remove()
        return elapsed, recipients

    def cancel(self, mailout_id: int) -> None:
        from objectwar.extensions import db
        from objectwar.mailouts import status

        with self.app.app_context():
            status.cancel(mailout_id)
            db.session.remove()

    def enqueue(self, mailout_id: int, chains: int) -> None:
        from objectwar import tasks

        with self.app.app_context():
            tasks.enqueue_mailout(mailout_id, chains=chains)

    def start_workers(self, count: int, threads: int) -> None:
        for _ in range(count):
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", str(threads),
                 "--no-periodic"], env=self.env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)  # imports and first poll of the queue

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.workers = []

    def progress(self, mailout_id: int) -> tuple[int, str]:
        from objectwar.extensions import db
        from objectwar.mailing.models import Mailout

        with self.app.app_context():
            row = db.session.execute(select(Mailout.sent_count, Mailout.status)
                                     .where(Mailout.id == mailout_id)).one()
            db.session.remove()
        return row.sent_count, str(row.status)

    def rate(self, mailout_id: int, timeout: float) -> float:
        """Messages per second from the first batch counted to the end of the mail-out."""
        deadline = time.monotonic() + timeout
        first: tuple[float, int] | None = None
        while time.monotonic() < deadline:
            sent, status = self.progress(mailout_id)
            now = time.perf_counter()
            if first is None and sent > 0:
                first = (now, sent)
            if status == "sent":
                assert first is not None
                return (sent - first[1]) / (now - first[0])
            time.sleep(0.05)
        raise RuntimeError("the mail-out did not finish in time")

    def sent_rate(self, mailout_id: int) -> float:
        """Messages per second between the first and the last delivery marked sent (exact)."""
        from sqlalchemy import func

        from objectwar.extensions import db
        from objectwar.mailing.models import Delivery, DeliveryStatus

        with self.app.app_context():
            first, last, sent = db.session.execute(
                select(func.min(Delivery.sent_at), func.max(Delivery.sent_at), func.count())
                .where(Delivery.mailout_id == mailout_id, Delivery.status == DeliveryStatus.SENT)
            ).one()
            db.session.remove()
        return (sent - 1) / (last - first).total_seconds()

    def peak_rss_mb(self) -> float:
        peaks = []
        for worker in self.workers:
            status = Path(f"/proc/{worker.pid}/status").read_text()
            line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
            peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)


def throughput(setup: Setup, workers: int, messages: int, threads: int = 1,
               exact: bool = False) -> float:
    """Messages per second of a mail-out to ``messages`` people; ``exact``: from the rows'
    times of sending (else from the counters as a coordinator's page sees them)."""
    setup.add_subscribers(messages - count_subscribers(setup))
    mailout_id = setup.new_mailout()
    setup.start_sending(mailout_id)
    setup.start_workers(workers, threads)
    setup.enqueue(mailout_id, chains=workers * threads)
    try:
        rate = setup.rate(mailout_id, timeout=300)
        return setup.sent_rate(mailout_id) if exact else rate
    finally:
        setup.stop_workers()


def count_subscribers(setup: Setup) -> int:
    from objectwar.extensions import db
    from objectwar.mailing.models import Subscriber

    with setup.app.app_context():
        return db.session.query(Subscriber).count()


def slow_relay(args: argparse.Namespace, instance: Path) -> None:
    """One worker process with 1 and 4 threads against a relay that answers in ``--slow-ms``."""
    slow_sink, slow_port = start_sink(args.slow_ms / 1000)
    try:
        url = make_url(args.pg)
        slow_db = url.set(database=f"{url.database}_slow").render_as_string(hide_password=False)
        setup = Setup(scratch_postgres(slow_db), instance, slow_port)
        limit_per_thread = 1000 / args.slow_ms
        for threads in (1, 4):
            messages = int(limit_per_thread * threads * args.slow_seconds)
            reached = throughput(setup, 1, messages, threads=threads, exact=True)
            limit = limit_per_thread * threads
            print(f"relay answering in {args.slow_ms:.0f} ms, 1 worker, {threads} thread(s), "
                  f"PostgreSQL: {reached:,.0f} msg/s = {reached / limit:.2f} of the "
                  f"{limit:,.0f} msg/s such a relay allows")
    finally:
        slow_sink.stdin.close()  # type: ignore[union-attr]
        slow_sink.wait(timeout=10)


def scratch_postgres(url: str) -> str:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_DATABASE_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/mail_bench"))
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--rss-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of 1- and 2-worker runs")
    parser.add_argument("--slow-ms", type=float, default=20.0, help="the slow relay's answer time")
    parser.add_argument("--slow-seconds", type=float, default=15.0,
                        help="about how long each slow-relay run sends")
    args = parser.parse_args()

    sink, port = start_sink()
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        rate, size = baseline(port, args.messages)
        print(f"baseline raw smtplib, one pre-built message of {size} bytes: {rate:,.0f} msg/s")
        with tempfile.TemporaryDirectory() as folder:
            sqlite = Setup(f"sqlite:///{folder}/bench.db", Path(folder) / "sqlite", port)
            one = throughput(sqlite, 1, args.messages)
            print(f"engine, 1 worker, SQLite: {one:,.0f} msg/s = {one / rate:.2f} of the baseline")

            pg = Setup(scratch_postgres(args.pg), Path(folder) / "pg", port)
            # One worker, then two, in rounds, each beside a baseline of its own: the
            # machine drifts between runs, and the medians say more than one pair.
            of_baseline, two_to_one = [], []
            for number in range(1, args.rounds + 1):
                round_rate, _size = baseline(port, args.messages // 2)
                one_pg = throughput(pg, 1, args.messages)
                two_pg = throughput(pg, 2, args.messages)
                of_baseline.append(one_pg / round_rate)
                two_to_one.append(two_pg / one_pg)
                print(f"round {number}, PostgreSQL: baseline {round_rate:,.0f} msg/s; 1 worker "
                      f"{one_pg:,.0f} msg/s = {one_pg / round_rate:.2f} of it; 2 workers "
                      f"{two_pg:,.0f} msg/s = {two_pg / one_pg:.2f} x one worker "
                      f"({two_pg / round_rate:.2f} of the baseline)")
            print(f"engine, 1 worker, PostgreSQL: median {statistics.median(of_baseline):.2f} of the "
                  f"baseline; 2 workers: median {statistics.median(two_to_one):.2f} x one worker "
                  f"(the sink's one thread and the machine's {os.cpu_count()} cores are shared by both)")

            for name, setup in (("PostgreSQL", pg), ("SQLite", sqlite)):
                setup.add_subscribers(args.big - count_subscribers(setup))
                mailout_id = setup.new_mailout()
                seconds, rows = setup.start_sending(mailout_id)
                setup.cancel(mailout_id)
                print(f"creating the deliveries of {args.big:,} recipients, {name}: {seconds:.2f} s "
                      f"({rows:,} rows, counted included)")

            mailout_id = pg.new_mailout()
            pg.start_sending(mailout_id)
            pg.start_workers(1, 1)
            pg.enqueue(mailout_id, chains=1)
            time.sleep(args.rss_seconds)
            sent, _status = pg.progress(mailout_id)
            peak = pg.peak_rss_mb()
            pg.stop_workers()
            pg.cancel(mailout_id)
            print(f"worker peak RSS during a {args.big:,}-recipient mail-out (PostgreSQL, "
                  f"{sent:,} sent in {args.rss_seconds:.0f} s): {peak:.0f} MB")
            slow_relay(args, Path(folder) / "slow")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        sink.stdin.close()  # type: ignore[union-attr]
        sink.wait(timeout=10)


if __name__ == "__main__":
    main()
