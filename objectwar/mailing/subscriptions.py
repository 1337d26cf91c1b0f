"""A subscription's statuses, and the one place that creates, changes and deletes subscriptions.

``unconfirmed → subscribed ⇄ unsubscribed``; ``bounced`` and ``complained`` are
reached from the active ones (a complaint from any), and only a new row can be
made from them. Every domain (the public opt-in, a signature's opt-in, imports,
unsubscribing, bounce and complaint reports, deletion by hand, erasure and the
retention purge) names an :class:`Action`; :data:`TRANSITIONS` says which statuses
it is allowed from (``None``: no row yet) and what it leads to (``None``: the row
goes). A change is one conditional UPDATE, so that a bounce, an unsubscribe and a
confirmation arriving at the same moment cannot overwrite each other. A test reads
the code for writes anywhere else (``tests/test_subscription_states.py``).
"""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, update

from objectwar.extensions import db
from objectwar.mailing.models import Subscription, SubscriptionStatus
from objectwar.types import utcnow

#: What each subscription status is called on pages (admin lists, a person's own data).
SUBSCRIPTION_LABELS = {
    SubscriptionStatus.UNCONFIRMED: _l("unconfirmed"),
    SubscriptionStatus.SUBSCRIBED: _l("subscribed"),
    SubscriptionStatus.UNSUBSCRIBED: _l("unsubscribed"),
    SubscriptionStatus.BOUNCED: _l("bounced"),
    SubscriptionStatus.COMPLAINED: _l("complained"),
}

# Statuses an import never changes: the person left, or the address does not work.
FINAL_STATUSES = frozenset({SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED,
                            SubscriptionStatus.COMPLAINED})


class Action(enum.StrEnum):
    """What happens to a subscription, and who makes it happen."""

    REQUEST = "request"  # a visitor asks on the public form: a new row waits for confirmation
    IMPORT_UNCONFIRMED = "import_unconfirmed"  # an import without stated consent
    IMPORT_CONFIRMED = "import_confirmed"  # an import stating that these people consented
    CONFIRM = "confirm"  # the owner of the address confirmed: their link, or a signature's opt-in
    UNSUBSCRIBE = "unsubscribe"  # their link or email, a coordinator, or a complaint about another list
    BOUNCE = "bounce"  # the address does not work (``bounces``)
    COMPLAIN = "complain"  # its owner reported an email of this list as spam
    DELETE = "delete"  # a coordinator deletes it by hand (a suppression stays)
    ERASE = "erase"  # the person asked for their data to be erased
    PURGE = "purge"  # still unconfirmed after the retention period


S = SubscriptionStatus
_ACTIVE = frozenset({S.UNCONFIRMED, S.SUBSCRIBED})
_EVERY = frozenset(S)
# action -> (the statuses it is allowed from, None: no row yet; the status it leads to, None: no row)
TRANSITIONS: dict[Action, tuple[frozenset[SubscriptionStatus | None], SubscriptionStatus | None]] = {
    Action.REQUEST: (frozenset({None}), S.UNCONFIRMED),
    Action.IMPORT_UNCONFIRMED: (frozenset({None}), S.UNCONFIRMED),
    Action.IMPORT_CONFIRMED: (frozenset({None, S.UNCONFIRMED}), S.SUBSCRIBED),
    Action.CONFIRM: (frozenset({None, S.UNCONFIRMED, S.UNSUBSCRIBED}), S.SUBSCRIBED),
    Action.UNSUBSCRIBE: (_ACTIVE, S.UNSUBSCRIBED),
    Action.BOUNCE: (_ACTIVE, S.BOUNCED),
    Action.COMPLAIN: (_EVERY - {S.COMPLAINED}, S.COMPLAINED),
    Action.DELETE: (_EVERY, None),
    Action.ERASE: (_EVERY, None),
    Action.PURGE: (frozenset({S.UNCONFIRMED}), None),
}


def _rule(action: Action, *, creates: bool = False, deletes: bool = False) -> tuple[
        frozenset[SubscriptionStatus], SubscriptionStatus | None]:
    """``action``'s statuses allowed from (of rows) and its target, if it fits the caller's use."""
    allowed, target = TRANSITIONS[action]
    statuses = frozenset(status for status in allowed if status is not None)
    fits = None in allowed if creates else bool(statuses)
    if not fits or (target is None) is not deletes:
        raise ValueError(f"the action {action!r} does not fit this use")
    return statuses, target


def create(action: Action, **values: Any) -> Subscription:
    """A new subscription in the status ``action`` leads to, added to the session (the caller
    commits: a concurrent insert of the same person and list fails there, on the unique key)."""
    _statuses, target = _rule(action, creates=True)
    subscription = Subscription(status=target, **values)
    db.session.add(subscription)
    return subscription


def transition(action: Action, *conditions: Any, conn: Any = None, **values: Any) -> int:
    """Move the subscriptions ``conditions`` select, where their status allows ``action``, to the
    status it leads to, writing ``values`` with it. Returns how many changed.

    Each change of status is stamped (``changed_at``, now unless given: the links made before
    it are stale) and ends a confirmation email still due. One conditional UPDATE, on the
    session or on ``conn`` (a bounce report's, or the sending worker's own connection).
    """
    statuses, target = _rule(action)
    statement = (
        update(Subscription)
        .where(Subscription.status.in_(statuses), *conditions)
        .values({"changed_at": utcnow(), "confirmation_due_at": None, **values, "status": target})
        .execution_options(synchronize_session=False)
    )
    return (db.session if conn is None else conn).execute(statement).rowcount


def change(subscription: Subscription, action: Action, **values: Any) -> bool:
    """:func:`transition` of one subscription held in the session, whose attributes then follow.

    Returns whether its status allowed ``action``: as it was read (else nothing is written),
    and still when written (it may have changed since).
    """
    if subscription.status not in TRANSITIONS[action][0]:
        return False
    changed = transition(action, Subscription.id == subscription.id, **values)
    db.session.expire(subscription, ["status", "changed_at", "confirmation_due_at", *values])
    return changed == 1


def remove(action: Action, *conditions: Any) -> int:
    """Delete the subscriptions ``conditions`` select, where their status allows ``action``.

    Returns how many went; the caller commits (and writes the suppression that stays).
    """
    statuses, _target = _rule(action, deletes=True)
    return db.session.execute(
        delete(Subscription).where(Subscription.status.in_(statuses), *conditions)
        .execution_options(synchronize_session=False)
    ).rowcount
