"""The raw SQL of a mail-out's hot path.

One statement per recipient, on both databases: it marks the delivery just
sent (``id``) and holds the next one (``next``): it renews that claim, checks
that the worker's token still holds it and that the mail-out is still sending
and has not been paused and resumed since the claim (``epoch``: a claim made
before a resume would burst past the restarted throttle), and reads that
recipient's subscription. With ``id`` 0 it only holds
(the first recipient of a claim, or the one after a failure). ``delivery.Marks``
runs it. Only enum values are formatted in; every other value is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable

from objectwar.mailing.models import DeliveryStatus, MailoutStatus

_SENT = DeliveryStatus.SENT.value
_SENDING = DeliveryStatus.SENDING.value
_MAILOUT_SENDING = MailoutStatus.SENDING.value


def sent_and_hold_sql(p: Callable[[str], str]) -> str:
    """The statement with the parameter ``name`` written as ``p(name)``.

    It returns one row per delivery it changed: the id, and for the next one the
    status of its subscription (``NULL`` for the one marked sent). A delivery
    missing from the answer is no longer held by the token: the one just sent
    was taken back (logged; nothing can call it back), the next must not be sent.
    """
    this = f"id = {p('id')}"
    return (
        "UPDATE deliveries SET "  # noqa: S608 (names and enum values only)
        f"status = CASE WHEN {this} THEN '{_SENT}' ELSE status END, "
        f"sent_at = CASE WHEN {this} THEN {p('now')} ELSE sent_at END, "
        f"attempts = CASE WHEN {this} THEN {p('attempts')} ELSE attempts END, "
        f"last_error = CASE WHEN {this} THEN NULL ELSE last_error END, "
        f"claim_token = CASE WHEN {this} THEN NULL ELSE claim_token END, "
        f"claimed_at = {p('now')} "
        f"WHERE id IN ({p('id')}, {p('next')}) AND status = '{_SENDING}' "
        f"AND claim_token = {p('token')} "
        f"AND ({this} OR EXISTS (SELECT 1 FROM mailouts WHERE id = {p('mailout')} "
        f"AND status = '{_MAILOUT_SENDING}' AND resumed_at = {p('epoch')})) "
        f"RETURNING id, CASE WHEN {this} THEN NULL ELSE (SELECT status FROM subscriptions "
        f"WHERE list_id = {p('list')} AND subscriber_id = {p('subscriber')}) END"
    )


PSYCOPG_SENT_AND_HOLD = sent_and_hold_sql(lambda name: f"%({name})s")
SQLALCHEMY_SENT_AND_HOLD = sent_and_hold_sql(lambda name: f":{name}")
