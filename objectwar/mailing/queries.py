"""The raw SQL of a mail-out's hot path (PostgreSQL, psycopg's named placeholders).

One round trip per recipient: the statement that marks a delivery sent also
renews the claim on the next one, checks that its worker still holds it and
that the mail-out is still sending, and reads that recipient's subscription.
``delivery.Marks`` runs these; on SQLite it runs the same steps one by one.
Only enum values are formatted in; every other value is a parameter.
"""

from __future__ import annotations

from objectwar.mailing.models import DeliveryStatus, MailoutStatus

_SENT = DeliveryStatus.SENT.value
_SENDING = DeliveryStatus.SENDING.value
_MAILOUT_SENDING = MailoutStatus.SENDING.value

# Renew the claim on delivery %(next)s if %(token)s still holds it and the mail-out is
# still sending: a paused or cancelled mail-out, or a lapsed claim, sends nothing more.
_HOLD_NEXT = (
    f"held AS (UPDATE deliveries SET claimed_at = %(now)s WHERE id = %(next)s "  # noqa: S608
    f"AND status = '{_SENDING}' AND claim_token = %(token)s "
    f"AND EXISTS (SELECT 1 FROM mailouts WHERE id = %(mailout)s AND status = '{_MAILOUT_SENDING}') "
    "RETURNING 1)"
)
_NEXT_SUBSCRIPTION = (
    "(SELECT status FROM subscriptions WHERE list_id = %(list)s AND subscriber_id = %(subscriber)s)"
)

# Hold the next delivery: (held 0 or 1, its subscription's status).
HOLD_SQL = f"WITH {_HOLD_NEXT} SELECT (SELECT count(*) FROM held), {_NEXT_SUBSCRIPTION}"  # noqa: S608

# Mark delivery %(id)s sent under %(token)s and hold the next one:
# (marked 0 or 1, held 0 or 1, the next one's subscription status).
SENT_SQL = (
    f"WITH done AS (UPDATE deliveries SET status = '{_SENT}', sent_at = %(now)s, "  # noqa: S608
    "attempts = %(attempts)s, last_error = NULL, claim_token = NULL "
    f"WHERE id = %(id)s AND status = '{_SENDING}' AND claim_token = %(token)s RETURNING 1), "
    f"{_HOLD_NEXT} "
    f"SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM held), {_NEXT_SUBSCRIPTION}"
)
