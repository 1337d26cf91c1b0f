"""The people on a mailing list: a coordinator's page of them, import (JSON or CSV upload), export.

An address that unsubscribed, bounced or complained, or whose subscription a
coordinator deleted, or whose owner asked for erasure, is never subscribed
again by an import: only its owner can come back (through the public form,
confirmed by email). The first three keep their subscription row with that
status; the others leave a :class:`Suppression` (a keyed digest, never the
address: ``suppression``). A bounce or a complaint leaves one for every list too
(``mailing.bounces``). Every change is written to the audit log.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

from objectwar import csvstream, security
from objectwar.audit.services import record
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mailing import subscriptions
from objectwar.mailing.list_admin import get_list
from objectwar.mailing.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from objectwar.mailing.subscriptions import FINAL_STATUSES
from objectwar.mailing.suppression import suppress, suppressed_digests
from objectwar.mailing.unsubscribe import end_subscription, skip_pending
from objectwar.types import utcnow
from objectwar.validation import clean_name, fail, validate_country, validate_email, validate_locale

MAX_IMPORT = 10_000
EXPORT_COLUMNS = ("email", "name", "locale", "country", "status", "source", "consented_at",
                  "changed_at")
PAGE_SIZE = 50
IMPORT_MAX_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 5
UPLOAD_PURPOSE = "list-import-upload"
UPLOAD_MAX_AGE = 24 * 3600
# Headers a CSV may use for each column (compared in lower case, trimmed).
COLUMN_NAMES = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "name": ("name", "full name"),
    "locale": ("locale", "language", "lang"),
    "country": ("country", "country code"),
}


# -- subscribers ----------------------------------------------------------------------


@dataclass
class SubscriberRow:
    subscription_id: int
    email: str
    name: str | None
    status: SubscriptionStatus
    source: str
    changed_at: datetime


@dataclass
class SubscriberPage:
    rows: list[SubscriberRow]
    page: int
    pages: int
    total: int
    counts: dict[str, int] = dataclasses.field(default_factory=dict)


def status_counts(list_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Subscription.status, func.count()).where(Subscription.list_id == list_id)
        .group_by(Subscription.status))
    return {str(status): n for status, n in rows}


def subscribers(slug: str, *, page: int = 1, search: str | None = None) -> SubscriberPage:
    """One page of a list's subscribers, newest change first; ``search`` finds one address.

    Addresses are stored encrypted: a search compares the digest of the address given.
    :raise NotFound: no such list.
    """
    mailing_list = get_list(slug)
    query = (select(Subscription, Subscriber)
             .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
             .where(Subscription.list_id == mailing_list.id))
    if search and search.strip():
        query = query.where(Subscriber.email_digest == security.email_digest(_as_stored(search)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    found = db.session.execute(
        query.order_by(Subscription.changed_at.desc(), Subscription.id.desc())
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    rows = [SubscriberRow(s.id, person.email, person.name, s.status, s.source, s.changed_at)
            for s, person in found]
    return SubscriberPage(rows, page, pages, total, status_counts(mailing_list.id))


def get_subscription(slug: str, subscription_id: int) -> Subscription:
    """:raise NotFound: no such list, or the subscription is not on it."""
    mailing_list = get_list(slug)
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or subscription.list_id != mailing_list.id:
        raise NotFound()
    return subscription


def unsubscribe_one(actor_id: int, slug: str, subscription_id: int) -> Subscription:
    """Unsubscribe one person by hand (an import will not add them again).

    :raise NotFound: no such subscription on this list.
    """
    subscription = get_subscription(slug, subscription_id)
    end_subscription(subscription)
    record("list.unsubscribe", subscription.mailing_list, actor_id=actor_id,
           subscription_id=subscription.id, subscriber_id=subscription.subscriber_id)
    db.session.commit()
    return subscription


def delete_one(actor_id: int, slug: str, subscription_id: int) -> None:
    """Delete one subscription: the list forgets the person, and no import adds them again.

    What stays is a suppression of the address's digest for this list, written
    in the same transaction; only the person's own confirmed opt-in lifts it.
    :raise NotFound: no such subscription on this list.
    """
    subscription = get_subscription(slug, subscription_id)
    skip_pending(subscription)
    suppress(subscription.subscriber.email_digest, SuppressionReason.DELETED,
             subscription.list_id)
    record("list.delete_subscription", subscription.mailing_list, actor_id=actor_id,
           subscription_id=subscription.id, subscriber_id=subscription.subscriber_id,
           status=str(subscription.status))
    subscriptions.remove(subscriptions.Action.DELETE, Subscription.id == subscription.id)
    db.session.commit()



# -- import ------------------------------------------------------------------------


def _clean_person(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValidationError(errors={"request": [_("Give an object.")]})
    errors: dict[str, list[str]] = {}
    person: dict[str, Any] = {}
    checks = {
        "email": lambda v: validate_email(v if isinstance(v, str) else None, "email"),
        "name": lambda v: clean_name(v, "name") if v not in (None, "") else None,
        "locale": lambda v: validate_locale(v if isinstance(v, str) else None, "locale") if v else "en",
        "country": lambda v: validate_country(v if isinstance(v, str) else None, "country") if v else None,
    }
    for field, check in checks.items():
        value = item.get(field)
        if value is not None and not isinstance(value, str):
            errors.setdefault(field, []).append(_("Give text."))
            continue
        try:
            person[field] = check(value)
        except ValidationError as error:
            for key, messages in error.errors.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors=errors)
    return person


def import_subscribers(slug: str, data: Any, *, actor_id: int | None = None,
                       source: str = "import") -> dict[str, Any]:
    """Add or update people on a list (CONTRACT.md's ``POST /api/v1/lists/<slug>/subscribers``).

    Valid rows are imported and invalid ones reported by index. ``confirmed``
    states that these people consented (recorded as the source); otherwise they
    wait unconfirmed for a confirmation email.
    :raise NotFound: no such list. :raise ValidationError: the body is not of the right shape.
    """
    mailing_list = get_list(slug)
    if not isinstance(data, dict) or not isinstance(data.get("subscribers"), list):
        raise ValidationError(errors={"subscribers": [_("Give a list of subscribers.")]})
    people = data["subscribers"]
    confirmed = data.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise ValidationError(errors={"confirmed": [_("Give true or false.")]})
    if len(people) > MAX_IMPORT:
        raise ValidationError(errors={"subscribers": [
            _("Send at most %(n)d subscribers at a time.", n=MAX_IMPORT)
        ]})
    now = utcnow()
    summary: dict[str, Any] = {"added": 0, "updated": 0, "skipped": 0, "errors": []}
    # Suppressed addresses are skipped like repeats in the file.
    seen: set[str] = suppressed_digests(mailing_list.id)
    for index, item in enumerate(people):
        try:
            person = _clean_person(item)
        except ValidationError as error:
            summary["errors"].append({"index": index, "errors": error.errors})
            continue
        digest = security.email_digest(person["email"])
        if digest in seen:
            summary["skipped"] += 1
            continue
        seen.add(digest)
        outcome = _import_one(mailing_list, person, digest, confirmed, source, now)
        summary[outcome] += 1
    record("list.import", mailing_list, actor_id=actor_id, confirmed=confirmed,
           added=summary["added"], updated=summary["updated"], skipped=summary["skipped"],
           errors=len(summary["errors"]))
    db.session.commit()
    return summary


def _import_one(mailing_list: MailingList, person: dict[str, Any], digest: str, confirmed: bool,
                source: str, now) -> str:
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_digest == digest))
    subscription = None
    if subscriber is not None:
        subscription = db.session.scalar(select(Subscription).where(
            Subscription.list_id == mailing_list.id, Subscription.subscriber_id == subscriber.id))
    if subscription is not None and subscription.status in FINAL_STATUSES:
        return "skipped"
    changed = False
    if subscriber is None:
        subscriber = Subscriber(email_digest=digest, email=person["email"], name=person["name"],
                                locale=person["locale"], country=person["country"])
        db.session.add(subscriber)
        db.session.flush()
    else:
        for field in ("name", "locale", "country"):
            if person[field] is not None and getattr(subscriber, field) != person[field]:
                setattr(subscriber, field, person[field])
                changed = True
    if subscription is None:
        action = (subscriptions.Action.IMPORT_CONFIRMED if confirmed
                  else subscriptions.Action.IMPORT_UNCONFIRMED)
        subscriptions.create(
            action, list_id=mailing_list.id, subscriber_id=subscriber.id, source=source,
            consented_at=now if confirmed else None, confirmation_due_at=None if confirmed else now,
            changed_at=now,
        )
        return "added"
    if confirmed and subscriptions.change(subscription, subscriptions.Action.IMPORT_CONFIRMED,
                                          consented_at=now, source=source, changed_at=now):
        changed = True
    return "updated" if changed else "skipped"


# -- CSV upload -------------------------------------------------------------------------


@dataclass
class CsvUpload:
    """A parsed upload: the column mapping, the first rows, and the people to import."""

    filename: str
    mapping: dict[str, str]  # our column -> the file's header
    ignored: list[str]
    preview: list[dict[str, str]]
    people: list[dict[str, str]]


def _uploads_dir() -> str:
    path = os.path.join(current_app.instance_path, "uploads", "imports")
    os.makedirs(path, exist_ok=True)
    return path


def parse_csv(content: bytes, filename: str) -> CsvUpload:
    """Read an uploaded CSV: UTF-8, columns mapped by header (email required).

    :raise ValidationError: too large, not UTF-8 text, no email column, or no rows.
    """
    if len(content) > IMPORT_MAX_BYTES:
        raise fail("file", _("The file is too large (at most %(n)d MB).", n=IMPORT_MAX_BYTES // 2**20))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("file", _("Save the file as CSV in UTF-8 and try again.")) from None
    # Spreadsheets write commas, semicolons (where the comma is the decimal mark) or tabs:
    # the header line, which names the columns, says which.
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise fail("file", _("The file is empty."))
    mapping: dict[str, str] = {}
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        key = title.strip().lower()
        column = next((ours for ours, names in COLUMN_NAMES.items() if key in names), None)
        if column is not None and column not in positions:
            positions[column] = index
            mapping[column] = title.strip()
    if "email" not in positions:
        raise fail("file", _("The first line must name the columns; one of them must be “email”."))
    people = [{column: (row[i].strip() if i < len(row) else "") for column, i in positions.items()}
              for row in reader if any(cell.strip() for cell in row)]
    if not people:
        raise fail("file", _("The file has no rows below its header."))
    if len(people) > MAX_IMPORT:
        raise fail("file", _("Upload at most %(n)d rows at a time.", n=MAX_IMPORT))
    ignored = [title for i, title in enumerate(header) if i not in positions.values()]
    return CsvUpload(secure_filename(filename or "") or "upload.csv", mapping, ignored,
                     people[:PREVIEW_ROWS], people)


def store_upload(actor_id: int, slug: str, content: bytes, filename: str) -> tuple[CsvUpload, str]:
    """Check an uploaded file and keep it until the coordinator confirms; returns a signed ref.

    :raise NotFound: no such list. :raise ValidationError: the file cannot be read.
    """
    get_list(slug)
    upload = parse_csv(content, filename)
    _forget_old_uploads()
    name = security.random_token()[:32]
    with open(os.path.join(_uploads_dir(), name), "wb") as file:
        file.write(content)
    return upload, security.make_token(UPLOAD_PURPOSE, [name, upload.filename, slug, actor_id])


def _forget_old_uploads() -> None:
    folder = _uploads_dir()
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.getmtime(path) < time.time() - UPLOAD_MAX_AGE:
            os.remove(path)


def read_upload(actor_id: int, slug: str, ref: str) -> tuple[CsvUpload, str]:
    """The upload a signed ref names (the same coordinator and list).

    :raise ValidationError: the ref is forged, expired or its file gone.
    """
    gone = fail("file", _("This upload has expired. Please upload the file again."))
    try:
        name, filename, ref_slug, ref_actor = security.read_token(UPLOAD_PURPOSE, ref,
                                                                  max_age=UPLOAD_MAX_AGE)
    except (security.TokenError, TypeError, ValueError):
        raise gone from None
    path = os.path.join(_uploads_dir(), str(name))
    if ref_slug != slug or ref_actor != actor_id or not os.path.isfile(path):
        raise gone
    with open(path, "rb") as file:
        return parse_csv(file.read(), filename), path


def import_upload(actor_id: int, slug: str, ref: str, *, consent: bool) -> dict[str, Any]:
    """Import a stored upload as consenting subscribers; rows with errors are reported by line.

    :raise ValidationError: the upload is gone, or the consent box is not ticked (nothing is imported).
    """
    upload, path = read_upload(actor_id, slug, ref)
    if not consent:
        raise fail("consent", _("Tick this box to confirm that these people consented; nothing was imported."))
    source = f"import:{upload.filename[:120]} by {actor_id}"
    summary = import_subscribers(slug, {"subscribers": upload.people, "confirmed": True},
                                       actor_id=actor_id, source=source)
    os.remove(path)
    # Line numbers as a spreadsheet shows them: the header is line 1.
    summary["errors"] = [{"line": error["index"] + 2, "email": upload.people[error["index"]].get("email", ""),
                          "errors": error["errors"]} for error in summary["errors"]]
    summary["filename"] = upload.filename
    return summary


def _as_stored(address: str) -> str:
    """An address typed into the search box, normalised as stored addresses were."""
    try:
        return validate_email(address, "q")
    except ValidationError:
        return address.strip()


# -- export ----------------------------------------------------------------------------


def export_csv(slug: str, *, actor_id: int | None = None, chunk_rows: int = 500) -> Iterator[str]:
    """Record the export in the audit log, then stream the list as CSV, a chunk at a time.

    The rows are read from the database as they are written: the list is
    never held in memory. :raise NotFound: no such list.
    """
    mailing_list = get_list(slug)
    record("list.export", mailing_list, actor_id=actor_id)
    db.session.commit()
    list_id = mailing_list.id
    return _csv_rows(list_id, chunk_rows)


def _csv_rows(list_id: int, chunk_rows: int) -> Iterator[str]:
    query = (
        select(Subscriber.email, Subscriber.name, Subscriber.locale, Subscriber.country,
               Subscription.status, Subscription.source, Subscription.consented_at,
               Subscription.changed_at)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.list_id == list_id)
        .order_by(Subscription.id)
        .execution_options(yield_per=chunk_rows)
    )
    return csvstream.stream(query, EXPORT_COLUMNS, chunk_rows=chunk_rows)

