"""The retry rule of every email: mail-out deliveries, notices and confirmations alike.

The first retry of a transient failure comes ``MAIL_RETRY_SECONDS`` later
(CONTRACT.md), the delay doubles with each further failure up to
``MAX_DELAY_SECONDS``, and after ``MAX_ATTEMPTS`` failed sends, or at once
for a permanent failure, the email is given up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from objectwar.types import utcnow

# Failed sends after which an email is given up: with doubling delays from 60 s,
# the tenth failure comes about 8.5 hours after the first.
MAX_ATTEMPTS = 10
MAX_DELAY_SECONDS = 6 * 3600


def delay(failures: int) -> float:
    """Seconds before the next try after ``failures`` failed sends: 60, 120, 240, ..."""
    base = float(current_app.config.get("MAIL_RETRY_SECONDS", 60))
    return min(MAX_DELAY_SECONDS, base * 2 ** max(0, failures - 1))


def next_try(failures: int, *, permanent: bool = False) -> datetime | None:
    """When an email that failed ``failures`` times is due again; ``None``: give it up."""
    if permanent or failures >= MAX_ATTEMPTS:
        return None
    return utcnow() + timedelta(seconds=delay(failures))
