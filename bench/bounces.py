"""Benchmark of a bounce storm; prints its figures. Loopback only, bounded in time.

    .venv/bin/python bench/bounces.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/bounce_bench]
                                      [--reports 1000] [--pipes 15]

After a bad import, relays return thousands of reports at once. On SQLite and
on PostgreSQL (``--pg``, dropped and re-created: use a scratch database; ``--pg ''``
skips it):

1. a mail-out of ``--reports`` recipients, its deliveries sent (as workers leave them);
2. one real report per delivery in a Maildir, made from ``tests/reports/`` (Postfix,
   Exim and Gmail hard bounces, soft bounces, ARF complaints, auto-replies that are
   no report), handled by ONE ``flask bounce-mail --maildir`` process, start-up
   included: reports per second (the goal: 1,000 in under 20 s);
3. the baseline of the same run: the same messages parsed and classified by
   flufl.bounce alone (``email.message_from_bytes`` + ``all_failures``) in this process;
4. ``--pipes`` reports piped one at a time into ``flask bounce-mail`` (the MTA's way):
   seconds per report, start-up included, beside ``flask --app wsgi --help`` (the
   start-up alone), both medians.
"""

from __future__ import annotations

import argparse
import email
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.keys import DATA_KEY, SECRET_KEY  # noqa: E402 (after the path)

FLASK = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi"]
# What a storm after a bad import looks like: mostly addresses that do not exist.
MIX = (["postfix_hard"] * 4 + ["exim_hard"] * 2 + ["gmail_hard"] * 2 + ["postfix_soft"]
       + ["arf_complaint"] + ["not_a_report"])


def scratch_postgres(url: str) -> str:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


class Setup:
    """An app on one database with a mail-out of ``count`` sent deliveries, and its reports."""

    def __init__(self, url: str, instance: Path, count: int) -> None:
        instance.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
                    "SECRET_KEY": SECRET_KEY, "DATA_KEY": DATA_KEY, "FLASK_CONFIG": "production",
                    "PUBLIC_URL": "https://objectwar.test",
                    "MAIL_DEFAULT_SENDER": "noreply@objectwar.test"}
        self.env.pop("REDIS_URL", None)
        os.environ.update({key: self.env[key] for key in ("INSTANCE_PATH", "DATABASE_URL",
                                                         "SECRET_KEY", "DATA_KEY")})
        from objectwar import create_app
        from objectwar.extensions import db

        self.app = create_app("production", TASKS_IMMEDIATE=False,
                              PUBLIC_URL="https://objectwar.test",
                              MAIL_DEFAULT_SENDER="noreply@objectwar.test")
        with self.app.app_context():
            db.drop_all()
            db.create_all()
        self.mailout_id = self._mailout(count)

    def _mailout(self, count: int) -> int:
        from objectwar import security
        from objectwar.accounts.models import Role, User
        from objectwar.extensions import db
        from objectwar.mailing.models import (
            Delivery,
            DeliveryStatus,
            MailingList,
            Mailout,
            Subscriber,
            Subscription,
            SubscriptionStatus,
        )
        from objectwar.mailouts import editing, sweep
        from objectwar.types import utcnow

        with self.app.app_context():
            user = User(email_digest=security.email_digest("coordinator@objectwar.test"),
                        email="coordinator@objectwar.test", role=Role.COORDINATOR)
            mailing_list = MailingList(slug="updates", name="Updates", public=True)
            db.session.add_all([user, mailing_list])
            db.session.commit()
            rows = [{"id": index + 1, "email_digest": security.email_digest(self.address(index)),
                     "email": self.address(index), "name": f"Person {index}", "locale": "en",
                     "country": "DE"} for index in range(count)]
            db.session.execute(insert(Subscriber), rows)
            db.session.execute(insert(Subscription), [
                {"list_id": mailing_list.id, "subscriber_id": row["id"], "source": "bad import",
                 "status": SubscriptionStatus.SUBSCRIBED} for row in rows])
            db.session.commit()
            mailout_id = editing.create_mailout(
                {"list": "updates", "subject": "News", "body_markdown": "Hello {{ name }}."},
                created_by=user).id
            sweep.start_sending(mailout_id)
            db.session.execute(update(Delivery).values(status=DeliveryStatus.SENT, sent_at=utcnow()))
            db.session.execute(update(Mailout).values(sent_count=count))
            db.session.commit()
            db.session.remove()
        return mailout_id

    @staticmethod
    def address(index: int) -> str:
        return f"person{index:07d}@example.org"

    def reports(self) -> list[bytes]:
        """One report per delivery, in the order of MIX."""
        from objectwar.extensions import db
        from objectwar.mail import verp
        from objectwar.mailing.models import Delivery

        templates = {name: (ROOT / "tests" / "reports" / f"{name}.eml").read_text() for name in MIX}
        made = []
        with self.app.app_context():
            rows = db.session.execute(select(Delivery.id, Delivery.subscriber_id)
                                      .where(Delivery.mailout_id == self.mailout_id)
                                      .order_by(Delivery.id)).all()
            for number, (delivery_id, subscriber_id) in enumerate(rows):
                report = templates[MIX[number % len(MIX)]]
                values = {"VERP": verp.envelope_sender(verp.Sent.MAILOUT, self.mailout_id, delivery_id),
                          "MESSAGE_ID": verp.message_id(self.mailout_id, delivery_id),
                          "RECIPIENT": self.address(subscriber_id - 1)}
                for key, value in values.items():
                    report = report.replace("{{" + key + "}}", value)
                made.append(report.encode())
            db.session.remove()
        return made

    def outcome(self) -> str:
        from objectwar.extensions import db
        from objectwar.mailing.models import Mailout, Subscription

        with self.app.app_context():
            by_status = dict(db.session.execute(
                select(Subscription.status, func.count()).group_by(Subscription.status)).all())
            mailout = db.session.get(Mailout, self.mailout_id)
            summary = (f"subscriptions {', '.join(f'{k}: {v}' for k, v in sorted(by_status.items()))}; "
                       f"mail-out {mailout.status}, {mailout.bounced_count} bounced, "
                       f"{mailout.complained_count} complained")
            db.session.remove()
        return summary

    def run(self, *args: str, stdin: bytes = b"") -> tuple[float, subprocess.CompletedProcess]:
        started = time.perf_counter()
        done = subprocess.run([*FLASK, *args], input=stdin, capture_output=True, env=self.env,
                              cwd=ROOT, check=False, timeout=300)
        return time.perf_counter() - started, done


def flufl_baseline(messages: list[bytes]) -> float:
    """Messages per second that flufl.bounce alone parses and classifies."""
    import flufl.bounce

    started = time.perf_counter()
    for raw in messages:
        flufl.bounce.all_failures(email.message_from_bytes(raw))
    return len(messages) / (time.perf_counter() - started)


def storm(name: str, setup: Setup, args: argparse.Namespace, folder: Path) -> None:
    messages = setup.reports()
    box = folder / f"maildir-{name}"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for number, raw in enumerate(messages):
        (box / "new" / f"1796000000.M{number:06d}P4242.mail.objectwar.test").write_bytes(raw)
    baseline = flufl_baseline(messages)
    seconds, done = setup.run("bounce-mail", "--maildir", str(box))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    left = len(list((box / "new").iterdir()))
    print(f"{name}: {len(messages):,} reports from a Maildir by one process: {seconds:.2f} s, "
          f"{len(messages) / seconds:,.0f} reports/s, start-up included "
          f"({'within' if seconds < 20 * len(messages) / 1000 else 'OVER'} the goal of 1,000 in 20 s; "
          f"{left} left in new/)")
    print(f"{name}: baseline flufl.bounce alone, same messages, in-process: {baseline:,.0f} messages/s "
          f"(the command does {len(messages) / seconds / baseline:.2f} of that, database and "
          f"start-up included)")
    print(f"{name}: {setup.outcome()}")

    # Each piped report right after a start-up alone: pairs, as the machine drifts.
    pipes, startups = [], []
    for raw in messages[: args.pipes]:  # handled already: the same work again (idempotent)
        startups.append(setup.run("--help")[0])
        seconds, done = setup.run("bounce-mail", stdin=raw)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        pipes.append(seconds)
    print(f"{name}: one report piped into flask bounce-mail: median {statistics.median(pipes):.3f} s "
          f"per report, start-up included (min {min(pipes):.3f} s); baseline `flask --app wsgi "
          f"--help` in the same pairs: median {statistics.median(startups):.3f} s (min "
          f"{min(startups):.3f} s): the report's own work is lost in the start-up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bounce_bench"))
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--pipes", type=int, default=15)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        storm("SQLite", Setup(f"sqlite:///{folder}/bench.db", folder / "sqlite", args.reports),
              args, folder)
        if args.pg:
            storm("PostgreSQL", Setup(scratch_postgres(args.pg), folder / "pg", args.reports),
                  args, folder)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
