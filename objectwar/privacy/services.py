"""Personal data: retention, and a person's copy or erasure of what is held for their address.

Unconfirmed data is deleted after ``UNCONFIRMED_TTL_DAYS``. Anyone may ask by
email for a copy or the erasure of what is held for an address; the answer is
the same whether or not it is known, and the email (sent to that address)
carries a link that works for a day.
"""

from __future__ import annotations

import enum
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, exists, select

from objectwar import ratelimit, security
from objectwar.audit import services as audit
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mail import notices as mail_notices
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing import subscriptions as mailing_subscriptions
from objectwar.mailing import suppression
from objectwar.mailing.models import (
    Delivery,
    Subscriber,
    Subscription,
    SuppressionReason,
)
from objectwar.petitions import counts as petition_counts
from objectwar.petitions.models import Signature
from objectwar.types import utcnow
from objectwar.validation import validate_email


def purge(now: datetime | None = None) -> dict[str, int]:
    """Apply every retention rule: :func:`purge_unconfirmed`, and emails of the
    outbox sent or given up before the retention period (their rows hold the
    recipients' addresses). Returns counts.
    """
    now = now or utcnow()
    counts = purge_unconfirmed(now)
    counts["notices"] = mail_notices.purge_finished(
        now - timedelta(days=current_app.config["UNCONFIRMED_TTL_DAYS"]))
    db.session.commit()
    return counts


def purge_unconfirmed(now: datetime | None = None) -> dict[str, int]:
    """Delete unconfirmed signatures and subscriptions older than the retention period.

    Subscribers left on no list and older than the period go too. Returns counts.
    """
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["UNCONFIRMED_TTL_DAYS"])
    signatures = db.session.execute(
        delete(Signature).where(Signature.confirmed_at.is_(None), Signature.created_at < cutoff)
    ).rowcount
    subscriptions = mailing_subscriptions.remove(mailing_subscriptions.Action.PURGE,
                                                 Subscription.created_at < cutoff)
    orphans = db.session.execute(
        delete(Subscriber).where(
            Subscriber.created_at < cutoff,
            ~exists(select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id)),
        ).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return {"signatures": signatures, "subscriptions": subscriptions, "subscribers": orphans}


# -- asking for a copy or the erasure of one's data ------------------------------------

#: Purpose of the links in the data emails; a link works for a day.
TOKEN_PURPOSE = "my-data"  # noqa: S105 (a token purpose, not a secret)
TOKEN_MAX_AGE = 86400


class DataAction(enum.StrEnum):
    EXPORT = "export"
    ERASE = "erase"


_NOTICE_KINDS = {DataAction.EXPORT: NoticeKind.DATA_EXPORT, DataAction.ERASE: NoticeKind.DATA_ERASURE}


def parse_request(email: str | None, action: str | None) -> tuple[str, DataAction]:
    """The address and the action of a data request.

    :raise ValidationError: a bad address, no action chosen (messages at both fields).
    """
    errors: dict[str, list[str]] = {}
    address = ""
    try:
        address = validate_email(email)
    except ValidationError as error:
        errors.update(error.errors)
    if action not in tuple(DataAction):
        errors["action"] = [_("Choose what we should do.")]
    if errors:
        raise ValidationError(errors=errors)
    return address, DataAction(action)


def request_data(email: str | None, action: str | None, locale: str) -> Notice | None:
    """Queue the email that answers a data request, whether or not the address is known.

    The email itself says whether anything is held (composed when it is sent).
    Each address gets at most ``DATA_REQUEST_ADDRESS_LIMIT`` emails of each kind
    (3 a day); past that, nothing is queued and the caller answers as always:
    a refusal would tell a stranger that somebody asked, and a budget shared by
    both kinds would let requests for copies hold off the owner's erasure.
    :raise ValidationError: see :func:`parse_request`.
    """
    address, data_action = parse_request(email, action)
    budget = current_app.config["DATA_REQUEST_ADDRESS_LIMIT"]
    if not ratelimit.within_budget(budget, "data-address",
                                   f"{security.email_digest(address)}:{data_action}"):
        return None
    notice = mail_notices.queue(_NOTICE_KINDS[data_action], 0, address, locale)
    db.session.commit()
    return notice


def link_token(digest: str, action: DataAction) -> str:
    # The digest goes encrypted: it is the address's lookup key (kept for good in
    # the suppressions after an erasure), and links end up in logs and histories.
    return security.make_token(TOKEN_PURPOSE, {"d": security.encrypt(digest), "a": str(action)})


def _bad_link() -> NotFound:
    return NotFound(errors={"token": [_(
        "This link is not valid any more. It may have expired. You can ask for a new one."
    )]})


def read_link(token: str) -> tuple[str, DataAction]:
    """The digest and action of a data link.

    :raise NotFound: forged, altered, expired or another purpose's link.
    """
    try:
        payload = security.read_token(TOKEN_PURPOSE, token, max_age=TOKEN_MAX_AGE)
    except security.TokenError:
        raise _bad_link() from None
    if not isinstance(payload, dict):
        raise _bad_link()
    sealed, action = payload.get("d"), payload.get("a")
    if not isinstance(sealed, str) or action not in tuple(DataAction):
        raise _bad_link()
    try:
        digest = security.decrypt(sealed)
    except (InvalidToken, ValueError):  # signed by us, sealed with a key no longer configured
        raise _bad_link() from None
    return digest, DataAction(action)


def read_export_link(token: str) -> str:
    """The digest of an export link. :raise NotFound: not a valid export link."""
    digest, action = read_link(token)
    if action != DataAction.EXPORT:
        raise _bad_link()
    return digest


def link_for(address: str, action: DataAction) -> str | None:
    """The token of the email's link, or ``None`` when nothing is held for the address."""
    digest = security.email_digest(address)
    return link_token(digest, action) if holds_data(digest) else None


def holds_data(digest: str) -> bool:
    """Whether a signature or a subscriber has this address."""
    return (db.session.scalar(select(Signature.id).where(Signature.email_digest == digest).limit(1))
            is not None
            or db.session.scalar(select(Subscriber.id).where(Subscriber.email_digest == digest))
            is not None)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export(digest: str) -> dict[str, Any]:
    """Everything held for an address digest, decrypted, as plain JSON values."""
    signatures = db.session.scalars(
        select(Signature).where(Signature.email_digest == digest).order_by(Signature.created_at)
    ).all()
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_digest == digest))
    held: dict[str, Any] = {"signatures": [_signature_data(s) for s in signatures], "subscriber": None}
    if subscriber is not None:
        subscriptions = db.session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber.id)
            .order_by(Subscription.created_at)
        ).all()
        held["subscriber"] = {
            "email": subscriber.email, "name": subscriber.name, "locale": subscriber.locale,
            "country": subscriber.country,
            "subscriptions": [{"list": s.mailing_list.name, "status": str(s.status),
                               "since": _iso(s.changed_at)} for s in subscriptions],
        }
    return held


def _signature_data(signature: Signature) -> dict[str, Any]:
    text = signature.petition.text_for(signature.locale)
    return {
        "petition": text.title if text is not None else signature.petition.slug,
        "email": signature.email,
        "first_name": signature.first_name,
        "last_name": signature.last_name,
        "country": signature.country,
        "locale": signature.locale,
        "signed_at": _iso(signature.created_at),
        "confirmed_at": _iso(signature.confirmed_at),
        "public_name": signature.public_name,
        "wants_updates": signature.wants_updates,
        "organisation": signature.organisation.name if signature.organisation else None,
    }


def erase(token: str) -> dict[str, int]:
    """Erase everything held for the address of an erase link, in one transaction.

    Signatures go (each confirmed one leaves its petition's count), and the
    subscriber with its subscriptions and mail-out deliveries; the address is
    suppressed on every list so that no import adds it again. Erasing twice is
    harmless. Accounts of organisations' members are not touched. Returns counts.
    :raise NotFound: not a valid erase link.
    """
    digest, action = read_link(token)
    if action != DataAction.ERASE:
        raise _bad_link()
    # DELETE ... RETURNING: the rows as they were deleted, so a confirmation that
    # commits meanwhile is either counted here or finds no row to confirm.
    deleted = db.session.execute(
        delete(Signature).where(Signature.email_digest == digest)
        .returning(Signature.petition_id, Signature.country, Signature.confirmed_at)
        .execution_options(synchronize_session=False)
    ).all()
    by_country = Counter((petition_id, country) for petition_id, country, confirmed_at in deleted
                         if confirmed_at is not None)
    petition_counts.move_confirmed({key: -count for key, count in by_country.items()},
                                   erased=True)
    counts = {"signatures": len(deleted), "confirmed": sum(by_country.values()),
              "subscribers": 0, "subscriptions": 0, "deliveries": 0}
    subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email_digest == digest))
    if subscriber_id is not None:
        counts["deliveries"] = db.session.execute(
            delete(Delivery).where(Delivery.subscriber_id == subscriber_id)
            .execution_options(synchronize_session=False)).rowcount
        counts["subscriptions"] = mailing_subscriptions.remove(
            mailing_subscriptions.Action.ERASE, Subscription.subscriber_id == subscriber_id)
        counts["subscribers"] = db.session.execute(
            delete(Subscriber).where(Subscriber.id == subscriber_id)
            .execution_options(synchronize_session=False)).rowcount
    suppression.suppress(digest, SuppressionReason.ERASED)
    if any(counts.values()):
        audit.record("privacy.erase", target_type="data", **counts)
    db.session.commit()
    return counts
