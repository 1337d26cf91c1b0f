"""Flask commands of CONTRACT.md: ``flask --app wsgi <command>``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import click
from flask import Flask, current_app
from werkzeug.serving import run_simple

from objectwar.errors import ValidationError


def _fail(error: ValidationError) -> None:
    for field, messages in error.errors.items():
        for message in messages:
            click.echo(f"{field}: {message}", err=True)
    raise SystemExit(1)


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo campaign (idempotent)."""
    from objectwar.demo import seed_demo

    created = seed_demo()
    click.echo("Demo campaign: " + ", ".join(f"{n} {what} created" for what, n in created.items()))


@click.command("create-coordinator")
@click.argument("email")
def create_coordinator_command(email: str) -> None:
    """Create (or re-activate) a coordinator; the password comes from the terminal or stdin."""
    from objectwar.accounts.services import create_coordinator

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        _user, created = create_coordinator(email, password)
    except ValidationError as error:
        _fail(error)
    click.echo(f"Coordinator {'created' if created else 're-activated'}: {email}")


@click.argument("email")
def reset_two_factor_command(email: str) -> None:
    """Remove a user's two-factor login (lost phone and recovery codes); audited."""
    from objectwar.accounts.two_factor import reset_by_operator
    from objectwar.errors import Conflict

    try:
        reset_by_operator(email)
    except (ValidationError, Conflict) as error:
        _fail(error)
    click.echo(f"Two-factor login removed for {email}; they are logged out and set it up "
               "again at their next login.")


@click.command("create-token")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for (shown in the admin).")
def create_token_command(email: str, name: str) -> None:
    """Print a new API token for a user (shown once; stored hashed)."""
    from objectwar.accounts.services import create_api_token

    try:
        token = create_api_token(email, name)
    except ValidationError as error:
        _fail(error)
    click.echo(token)


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
@click.option("--periodic/--no-periodic", default=True, show_default=True,
              help="Also run the periodic tasks (re-queueing due work).")
def worker_command(workers: int, periodic: bool) -> None:
    """Run a task worker (Huey consumer) for the configured queue."""
    from objectwar.tasks import run_worker

    run_worker(workers=workers, periodic=periodic)


@click.command("run-dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def run_dev_command(host: str, port: int) -> None:
    """Serve the app with a task worker and the development mail sink (Ctrl-C stops all)."""
    from objectwar.dev.server import RedactingRequestHandler
    from objectwar.dev.sink import start_sink

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # Ctrl-C and SIGTERM stop everything, even when started in the background
    # (where the shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    sink = start_sink(app.config["OUTBOX_DIR"], app.config["MAIL_SERVER"], app.config["MAIL_PORT"])
    click.echo(f"Mail sink on {app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']}; "
               f"read it at http://{host}:{port}/dev/outbox")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2"],
        env=os.environ.copy(),
    )
    try:
        # app.run() refuses to run inside a flask command; Werkzeug's server does not.
        run_simple(host, port, app, threaded=True, use_reloader=False,
                   request_handler=RedactingRequestHandler)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
        sink.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: Flask) -> None:
    for command in (seed_demo_command, create_coordinator_command, create_token_command,
                    worker_command, run_dev_command):
        app.cli.add_command(command)
    app.cli.command("purge")(purge_command)  # AppGroup.command: runs in the app context
    app.cli.command("unsubscribe-mail")(unsubscribe_mail_command)
    app.cli.command("bounce-mail")(bounce_mail_command)
    app.cli.command("rotate-data-key")(rotate_data_key_command)
    app.cli.command("reset-two-factor")(reset_two_factor_command)


# -- retention --


def purge_command() -> None:
    """Apply the retention rules: delete unconfirmed data, and sent emails' rows, older
    than UNCONFIRMED_TTL_DAYS (workers also do it every night)."""
    from objectwar.privacy.services import purge

    deleted = purge()
    click.echo("Purged: " + ", ".join(f"{n} {what}" for what, n in deleted.items()))


# -- mailing lists: List-Unsubscribe's mailto --

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again later
MAX_MESSAGE_BYTES = 1024 * 1024


def unsubscribe_mail_command() -> None:
    """Unsubscribe as the link does, for one email (RFC 5322) on standard input.

    For an MTA's pipe to the ``UNSUBSCRIBE_MAILBOX`` address. Exits 0 when the
    message was handled, or ignored (no valid token: nothing changes), and 75
    (EX_TEMPFAIL) when it cannot be handled now (the database is unreachable):
    the MTA then tries again later instead of bouncing the message.
    """
    from objectwar.mailing.unsubscribe import unsubscribe_by_mail

    raw = _read_message(sys.stdin.buffer, MAX_MESSAGE_BYTES)
    log = current_app.logger
    try:
        mailing_list = unsubscribe_by_mail(raw)
        slug = mailing_list.slug if mailing_list is not None else None
    except Exception as error:  # most likely the database; the message is kept, not lost
        log.error("unsubscribe-mail: cannot handle the message now (%s); the MTA will retry",
                  type(error).__name__)
        raise SystemExit(EX_TEMPFAIL) from None
    # Never the address: only the list, or that nothing was done.
    if slug is None:
        log.warning("unsubscribe-mail: no valid unsubscribe token in the subject; message ignored")
    else:
        log.info("unsubscribe-mail: unsubscribed someone from list %s", slug)


def _read_message(stream, limit: int) -> bytes:
    """The first ``limit`` bytes (the headers are there); the rest is read and dropped.

    Reading to the end spares the MTA a broken pipe, which it would report as a failure.
    """
    data = stream.read(limit)
    while stream.read(65536):
        pass
    return data


# -- bounces and complaints: the bounce address --

# Where an MTA's pipe gives the envelope recipient (Postfix's local(8), Exim's pipe transport).
RECIPIENT_VARIABLES = ("ORIGINAL_RECIPIENT", "RECIPIENT")
MAILDIR_GIVE_UP = 3  # failures in a row after which a Maildir run stops (the database is away)


@click.option("--maildir", type=click.Path(exists=True, file_okay=False),
              help="Handle every message in this Maildir's new/ instead of standard input.")
@click.option("--recipient", metavar="ADDRESS",
              help="The envelope recipient (a pipe's ${original_recipient}); "
                   "else $ORIGINAL_RECIPIENT or $RECIPIENT.")
def bounce_mail_command(maildir: str | None, recipient: str | None) -> None:
    """Read a report sent to the bounce address (a DSN or an ARF complaint) and apply it.

    One message (RFC 5322) on standard input, for an MTA's pipe: exits 0 when
    it was handled or ignored (no report, or nothing of ours: nothing changes),
    75 (EX_TEMPFAIL) when it cannot be handled now (the database is unreachable),
    so that the MTA tries again later. With ``--maildir``, every message in
    ``new/``: each handled or ignored one moves to ``cur/``, one that cannot be
    handled now stays for the next run, and the run then exits 75.
    """
    if maildir is not None:
        raise SystemExit(_bounce_maildir(maildir))
    if recipient:
        recipients = [recipient]
    else:
        recipients = [os.environ[name] for name in RECIPIENT_VARIABLES if os.environ.get(name)]
    if not _bounce_one(_read_message(sys.stdin.buffer, MAX_MESSAGE_BYTES), recipients):
        raise SystemExit(EX_TEMPFAIL)


def _bounce_one(raw: bytes, recipients: list[str]) -> bool:
    """Handle one message sent to the bounce address; ``False``: it cannot be handled now."""
    from objectwar import tasks
    from objectwar.mailing import reports

    log = current_app.logger
    try:
        handled = reports.handle(raw, recipients)
    except Exception as error:  # most likely the database; the message is kept, not lost
        log.error("bounce-mail: cannot handle the message now (%s); it is kept for a retry",
                  type(error).__name__)
        return False
    for notice_id in handled.notices:  # a lost one is sent by the outbox's periodic task
        tasks.enqueue(tasks.send_notice, notice_id)
    # Never an address: what kind of report, for which row, and what changed.
    if handled.outcome == reports.Outcome.HANDLED:
        log.info("bounce-mail: %s", handled.describe())
    else:
        log.warning("bounce-mail: message ignored: %s", handled.describe())
    return True


def _bounce_maildir(path: str) -> int:
    """Handle the Maildir's new messages in the order they came; the exit status."""
    new, cur = os.path.join(path, "new"), os.path.join(path, "cur")
    if not (os.path.isdir(new) and os.path.isdir(cur)):
        raise click.ClickException(f"{path} is not a Maildir (no new/ and cur/)")
    done = kept = failures = 0
    for name in sorted(os.listdir(new)):
        if name.startswith("."):
            continue
        if failures >= MAILDIR_GIVE_UP:
            kept += 1
            continue
        source = os.path.join(new, name)
        try:
            with open(source, "rb") as file:
                raw = _read_message(file, MAX_MESSAGE_BYTES)
        except FileNotFoundError:  # another run took it
            continue
        if not _bounce_one(raw, []):
            kept += 1
            failures += 1
            continue
        failures = 0
        done += 1
        # Maildir: a message seen moves to cur/ with its info ("2," and the flag S).
        with contextlib.suppress(FileNotFoundError):
            os.rename(source, os.path.join(cur, name if ":2," in name else f"{name}:2,S"))
    click.echo(f"bounce-mail: {done} message(s) handled or ignored, {kept} kept for a retry")
    return EX_TEMPFAIL if kept else 0


# -- operations: rotating the data key --


@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1),
              help="Rows re-encrypted per transaction.")
def rotate_data_key_command(batch_size: int) -> None:
    """Re-encrypt the personal data at rest with the newest key of DATA_KEY (new,old).

    Runs beside the web processes and workers, and may be run again. Exits 1
    when a value opens with no configured key (then keep every old key).
    """
    from objectwar.privacy.key_rotation import rotate

    keys = [key for key in current_app.config["DATA_KEY"].split(",") if key.strip()]
    rotation = rotate(batch_size)
    for name in sorted(set(rotation.rewritten) | set(rotation.current) | set(rotation.unreadable)):
        click.echo(f"{name}: {rotation.rewritten[name]} re-encrypted, {rotation.current[name]} "
                   f"already under the newest key, {rotation.unreadable[name]} unreadable")
    if rotation.unreadable:
        click.echo(f"{sum(rotation.unreadable.values())} value(s) open with no configured key: "
                   "keep every key in DATA_KEY until they are found.", err=True)
        raise SystemExit(1)
    from objectwar.privacy.key_rotation import remaining

    left = remaining()
    if left:
        click.echo(f"{sum(left.values())} value(s) were written with an older key meanwhile "
                   f"({', '.join(sorted(left))}): restart every process with the new DATA_KEY, "
                   "then run this again before removing an old key.", err=True)
        raise SystemExit(1)
    if len(keys) > 1 and not current_app.config.get("DIGEST_KEY"):
        click.echo("DIGEST_KEY is unset, so the look-up digests come from the oldest DATA_KEY: "
                   "set DIGEST_KEY to that key's value before removing it from DATA_KEY.", err=True)
    click.echo("Every value is under the newest data key; older keys may now be removed "
               "from DATA_KEY.")
