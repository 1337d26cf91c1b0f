"""A subscription's statuses: what they are called on pages, which ones are final."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from objectwar.mailing.models import SubscriptionStatus

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
