"""Unsubscribing: the link of every mail-out, an email to List-Unsubscribe's mailto, or a
coordinator's hand. It takes effect at once, and the person's pending deliveries are skipped.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from flask_babel import gettext as _
from sqlalchemy import select, update

from objectwar import security
from objectwar.errors import NotFound
from objectwar.extensions import db
from objectwar.mail import addresses
from objectwar.mailing import subscriptions
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Mailout,
    MailoutStatus,
    Subscription,
)

UNSUBSCRIBE_PURPOSE = "unsubscribe"


def unsubscribe_mailbox() -> str:
    """The address of ``List-Unsubscribe``'s mailto: ``UNSUBSCRIBE_MAILBOX``, else
    ``unsubscribe@`` the domain of ``MAIL_DEFAULT_SENDER`` (of ``PUBLIC_URL`` without one)."""
    return addresses.mailbox("UNSUBSCRIBE_MAILBOX", "unsubscribe")


def unsubscribe_token(subscriber_id: int, list_id: int) -> str:
    """The signed token of one subscriber's unsubscribe link for one list."""
    return security.make_token(UNSUBSCRIBE_PURPOSE, [subscriber_id, list_id])


def _invalid_link() -> NotFound:
    # The same answer for a forged, altered or outdated link: it tells nothing.
    return NotFound(errors={"token": [_("This unsubscribe link is not valid.")]})


def subscription_for_token(token: str) -> Subscription:
    """The subscription an unsubscribe link is for.

    :raise NotFound: the token is forged, altered, or its subscription is gone.
    """
    try:
        payload = security.read_token(UNSUBSCRIBE_PURPOSE, token)
    except security.TokenError:
        raise _invalid_link() from None
    if (not isinstance(payload, list) or len(payload) != 2
            or not all(isinstance(item, int) and not isinstance(item, bool) for item in payload)):
        raise _invalid_link()
    subscriber_id, list_id = payload
    subscription = db.session.scalar(select(Subscription).where(
        Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id))
    if subscription is None:
        raise _invalid_link()
    return subscription


def unsubscribe(token: str) -> MailingList:
    """Unsubscribe the owner of a link from its list, at once and idempotently.

    Pending deliveries of running mail-outs to this person are skipped.
    :raise NotFound: the link is not valid.
    """
    subscription = subscription_for_token(token)
    end_subscription(subscription)
    mailing_list = subscription.mailing_list
    db.session.commit()
    return mailing_list


def end_subscription(subscription: Subscription) -> None:
    """Mark a subscription unsubscribed (a final status stays) and skip its pending deliveries."""
    subscriptions.change(subscription, subscriptions.Action.UNSUBSCRIBE)
    skip_pending(subscription)


def skip_pending(subscription: Subscription) -> None:
    """Pending deliveries of this list's running mail-outs to this person are not sent."""
    running = select(Mailout.id).where(
        Mailout.list_id == subscription.list_id,
        Mailout.status.in_([MailoutStatus.SENDING, MailoutStatus.PAUSED, MailoutStatus.SCHEDULED]),
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscription.subscriber_id,
               Delivery.status == DeliveryStatus.PENDING, Delivery.mailout_id.in_(running))
        .values(status=DeliveryStatus.SKIPPED)
        .execution_options(synchronize_session=False)
    )


# The subject a mail client sends to List-Unsubscribe's mailto: "unsubscribe <token>"
# (perhaps after "Re:" or "Fwd:"); tokens are URL-safe base64 with dots.
MAILTO_TOKEN = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_.\-]{16,})", re.IGNORECASE)


def token_in_message(raw: bytes) -> str | None:
    """The unsubscribe token in the Subject of an RFC 5322 message, if there is one.

    Only the subject counts: a reply quoting a mail-out holds the token of its
    footer link in the body, and must not unsubscribe anyone.
    """
    try:
        headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        subject = str(headers.get("Subject") or "")
    except Exception:  # a malformed message from anyone: nothing to do
        return None
    match = MAILTO_TOKEN.search(subject)
    return match.group(1) if match else None


def unsubscribe_by_mail(raw: bytes) -> MailingList | None:
    """Unsubscribe the owner of the token in an email sent to List-Unsubscribe's mailto.

    The same rule as the link (:func:`unsubscribe`). Returns the list, or
    ``None`` when the message holds no valid token (nothing changes).
    """
    token = token_in_message(raw)
    if token is None:
        return None
    try:
        return unsubscribe(token)
    except NotFound:
        return None

