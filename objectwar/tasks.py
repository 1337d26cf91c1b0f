"""The task queue (Huey) and the task functions.

Tasks take ids and call services; they run inside the application that the
worker's entry point (``wsgi.py``) built and bound with :func:`init_app`.
Storage follows the configuration: Redis with ``REDIS_URL``, else a SQLite
file in the instance folder; ``TASKS_IMMEDIATE`` runs tasks inline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask
from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from objectwar.mail import notices as mail_notices
from objectwar.mailing import subscribe as mailing_subscribe
from objectwar.mailouts import send, sweep
from objectwar.petitions import authoring, signing
from objectwar.privacy import services as privacy

huey = Huey("objectwar", results=False, storage_class=MemoryStorage)

_bound: dict[str, Flask] = {}
logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Point the queue at the storage the app's configuration names."""
    _bound["app"] = app
    huey.immediate = False
    if app.config.get("REDIS_URL"):
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": app.config["REDIS_URL"]}
    else:
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": app.config["QUEUE_FILE"]}
    huey.storage = huey.create_storage()
    huey.immediate = bool(app.config.get("TASKS_IMMEDIATE"))
    app.extensions["huey"] = huey


def bound_app() -> Flask:
    try:
        return _bound["app"]
    except KeyError:
        raise RuntimeError("The task queue is not bound to an app: call tasks.init_app") from None


def app_task(*task_args: Any, **task_kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``huey.task`` that runs the function inside the bound app's context."""

    def decorator(function: Callable[..., Any]) -> Any:
        @wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with bound_app().app_context():
                return function(*args, **kwargs)

        return huey.task(*task_args, name=function.__name__, **task_kwargs)(run)

    return decorator


def app_periodic_task(validate_datetime: Any, **task_kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``huey.periodic_task`` inside the bound app's context."""

    def decorator(function: Callable[..., Any]) -> Any:
        @wraps(function)
        def run() -> Any:
            with bound_app().app_context():
                return function()

        return huey.periodic_task(validate_datetime, name=function.__name__, **task_kwargs)(run)

    return decorator


def enqueue(task: Any, *args: Any) -> bool:
    """Queue ``task(*args)`` for rows already committed; return whether it was queued.

    A queue failure (Redis down, a locked queue file) only delays the work: the
    rows say what is due and the periodic tasks find them. So it is logged, never
    turned into an error page after the visitor's data was saved.
    """
    try:
        task(*args)
    except Exception:
        logger.exception("Could not queue %s%r; a periodic task will pick it up",
                         getattr(task, "name", task), args)
        return False
    return True


def run_worker(workers: int = 2, periodic: bool = True) -> None:
    """Run a consumer in this process until it is stopped (SIGINT/SIGTERM)."""
    consumer = huey.create_consumer(
        workers=workers, worker_type="thread", periodic=periodic, check_worker_health=True,
        initial_delay=0.1, backoff=1.15, max_delay=1.0,
    )
    consumer.run()


# -- notices (accounts, organisations, privacy): their rows are the outbox -------------
# Views call a service (which writes the notice rows and commits), then queue
# send_notice with the ids; send_due_notices catches whatever the queue lost.


@app_task()
def send_notice(notice_id: int) -> bool:
    return mail_notices.deliver(notice_id)


@app_periodic_task(crontab(minute="*"))
def send_due_notices() -> int:
    return mail_notices.deliver_due(older_than_seconds=60)


def enqueue_notices(notices: list[Any]) -> None:
    """Queue the sending of notices already committed to the outbox."""
    for notice in notices:
        if notice is not None:
            enqueue(send_notice, notice.id)


# -- petitions: the opening and closing dates ---------------------------------------


@app_periodic_task(crontab(minute="*"))
def open_and_close_petitions() -> dict[str, list[int]]:
    """Open drafts whose opening date has come and close petitions whose closing date has."""
    return authoring.open_and_close_due()


# -- retention: every night, without anyone having to set up cron --------------


@app_periodic_task(crontab(hour="3", minute="17"))
def purge_expired_data() -> dict[str, int]:
    """``flask purge``: unconfirmed data and sent emails' rows past the retention period."""
    counts = privacy.purge()
    logger.info("Retention purge: %s", counts)
    return counts


# -- signing: confirmation emails; the signature rows are the outbox --


@app_task()
def send_signature_confirmation(signature_id: int) -> None:
    """Send the confirmation (or "already signed") email a signature row says is due."""
    signing.send_confirmation(signature_id)


@app_periodic_task(crontab(minute="*"))
def send_overdue_signature_confirmations() -> None:
    """Send every confirmation due for over a minute (its queue message was lost or failed)."""
    for signature_id in signing.overdue_confirmations():
        try:
            signing.send_confirmation(signature_id)
        except Exception:
            logger.exception("Confirmation email for signature %s failed; retried later", signature_id)


@app_periodic_task(crontab(minute="*/5"))
def remind_unconfirmed() -> dict[str, int]:
    """The one reminder to confirm, for signatures and subscriptions whose time has come."""
    signatures = signing.remind_unconfirmed()
    for signature_id in signatures:
        enqueue(send_signature_confirmation, signature_id)
    subscriptions = mailing_subscribe.remind_unconfirmed()
    for subscription_id in subscriptions:
        enqueue(send_subscription_confirmation, subscription_id)
    return {"signatures": len(signatures), "subscriptions": len(subscriptions)}


def enqueue_signature_confirmation(signature_id: int | None) -> None:
    """Queue the email of a committed signature row; a queue failure only delays it."""
    if signature_id is not None:
        enqueue(send_signature_confirmation, signature_id)


# -- mailing: delivery of mail-outs ----------------------------------------------
#
# ``deliver_batch`` is a chain: each run sends batches for a while and queues the
# next run while the mail-out is sending. Chains can be lost with a killed
# worker; the rows say what is left, and ``sweep_mailouts`` (every 5 seconds,
# scheduled by a once-a-minute periodic task, and at each worker's start)
# queues chains again for sending mail-outs with due work that nobody claimed
# recently, finishes the ones with nothing left, and starts due scheduled ones.

MAILOUT_CHAINS = 4  # parallel chains per mail-out (MAILOUT_CHAINS overrides)
SWEEP_EVERY_SECONDS = 5


def enqueue_mailout(mailout_id: int, chains: int | None = None) -> None:
    """Queue the delivery of a mail-out that has just started (or resumed)."""
    if chains is None:
        chains = int(bound_app().config.get("MAILOUT_CHAINS", MAILOUT_CHAINS))
    for _ in range(max(1, chains)):
        enqueue(deliver_batch, mailout_id)


@app_task()
def deliver_batch(mailout_id: int) -> None:
    """Send batches of one mail-out for a while, then queue the next run if work remains."""
    delay = send.run(mailout_id, notify=lambda notice_id: enqueue(send_notice, notice_id))
    if delay is None or huey.immediate:
        return
    if delay <= 0:
        deliver_batch(mailout_id)
    else:
        deliver_batch.schedule(args=(mailout_id,), delay=delay)


@app_task()
def sweep_mailouts(idle_seconds: float | None = None) -> None:
    """Re-queue sending mail-outs that went quiet; start due scheduled ones."""
    for mailout_id in sweep.sweep(idle_seconds):
        enqueue_mailout(mailout_id)
    for mailout_id in sweep.start_due_scheduled():
        enqueue_mailout(mailout_id)


@app_periodic_task(crontab(minute="*"))
def schedule_mailout_sweeps() -> None:
    """Huey's periodic tasks run once a minute: schedule a sweep every few seconds."""
    for offset in range(0, 60, SWEEP_EVERY_SECONDS):
        sweep_mailouts.schedule(delay=offset)


_started = {"done": False}


@huey.on_startup()
def sweep_at_worker_start() -> None:
    """A (re)started worker looks for work at once: the one it replaces may have died mid-batch."""
    if _started["done"] or huey.immediate:
        return
    _started["done"] = True
    sweep_mailouts(0)


# -- mailing lists: the public subscribe form (double opt-in); the subscription rows are the outbox


@app_task()
def send_subscription_confirmation(subscription_id: int) -> None:
    """Send the confirmation email a subscription row says is due."""
    mailing_subscribe.send_subscription_confirmation(subscription_id)


@app_periodic_task(crontab(minute="*"))
def send_overdue_subscription_confirmations() -> None:
    """Send every subscription confirmation due for over a minute (lost or failed queue message)."""
    for subscription_id in mailing_subscribe.overdue_subscription_confirmations():
        try:
            mailing_subscribe.send_subscription_confirmation(subscription_id)
        except Exception:
            logger.exception("Confirmation email for subscription %s failed; retried later",
                             subscription_id)


def enqueue_subscription_confirmation(subscription_id: int | None) -> None:
    """Queue the email of a committed subscription row; a queue failure only delays it."""
    if subscription_id is not None:
        enqueue(send_subscription_confirmation, subscription_id)
