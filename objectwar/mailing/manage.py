"""Coordinators' work on mailing lists: create and edit lists, look after subscribers, CSV upload.

Every change is written to the audit log with the coordinator who made it.
Imports go through :func:`objectwar.mailing.lists.import_subscribers`, so an
address that unsubscribed, bounced or complained, or whose subscription was
deleted, is never subscribed again.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import secure_filename

from objectwar import security
from objectwar.audit.services import changes, record
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mailing import list_texts, lists
from objectwar.mailing.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from objectwar.validation import clean_name, clean_text, fail, merge, validate_email

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
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


# -- lists -------------------------------------------------------------------------


def _list_values(data: dict[str, Any], *, with_slug: bool) -> dict[str, Any]:
    errors: list[ValidationError] = []
    values: dict[str, Any] = {}
    rules = {
        "name": lambda: clean_name(data.get("name"), "name", max_length=200),
        "description": lambda: clean_text(data.get("description"), "description", max_length=2000),
    }
    if with_slug:
        rules["slug"] = lambda: _clean_slug(data.get("slug"))
    for key, rule in rules.items():
        try:
            values[key] = rule()
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise merge(errors)
    values["public"] = bool(data.get("public"))
    return values


def _clean_slug(value: str | None) -> str:
    slug = (value or "").strip().lower()
    if not slug:
        raise fail("slug", _("This field is required."))
    if len(slug) > 80 or not SLUG_PATTERN.match(slug):
        raise fail("slug", _("Use lower-case letters, digits and single hyphens (at most 80)."))
    return slug


def create_list(actor_id: int, data: dict[str, Any]) -> MailingList:
    """Create a list. :raise ValidationError: invalid input, or the slug is taken."""
    values = _list_values(data, with_slug=True)
    taken = fail("slug", _("A list with this short name exists already."))
    if db.session.scalar(select(MailingList.id).where(MailingList.slug == values["slug"])):
        raise taken
    mailing_list = MailingList(**values)
    db.session.add(mailing_list)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise taken from None
    record("list.create", mailing_list, actor_id=actor_id, slug=mailing_list.slug,
           public=mailing_list.public)
    db.session.commit()
    return mailing_list


def update_list(actor_id: int, slug: str, data: dict[str, Any]) -> MailingList:
    """Change a list's name and description (in each language) and whether visitors may subscribe.

    :raise NotFound: no such list. :raise ValidationError: invalid input.
    """
    mailing_list = lists.get_list(slug)
    errors: list[ValidationError] = []
    values: dict[str, Any] = {}
    try:
        values = _list_values(data, with_slug=False)
    except ValidationError as error:
        errors.append(error)
    try:
        translated = list_texts.save(mailing_list, data)
    except ValidationError as error:
        errors.append(error)
    if errors:  # nothing was changed yet
        raise merge(errors)
    changed = changes(mailing_list, values)
    if translated:
        changed["translations"] = translated
    if changed:
        record("list.update", mailing_list, actor_id=actor_id, changes=changed)
    db.session.commit()
    return mailing_list


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
    counts: dict[str, int] = field(default_factory=dict)


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
    mailing_list = lists.get_list(slug)
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
    mailing_list = lists.get_list(slug)
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or subscription.list_id != mailing_list.id:
        raise NotFound()
    return subscription


def unsubscribe_one(actor_id: int, slug: str, subscription_id: int) -> Subscription:
    """Unsubscribe one person by hand (an import will not add them again).

    :raise NotFound: no such subscription on this list.
    """
    subscription = get_subscription(slug, subscription_id)
    lists.end_subscription(subscription)
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
    lists.skip_pending(subscription)
    lists.suppress(subscription.subscriber.email_digest, SuppressionReason.DELETED,
                   subscription.list_id)
    record("list.delete_subscription", subscription.mailing_list, actor_id=actor_id,
           subscription_id=subscription.id, subscriber_id=subscription.subscriber_id,
           status=str(subscription.status))
    db.session.delete(subscription)
    db.session.commit()


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
    if len(people) > lists.MAX_IMPORT:
        raise fail("file", _("Upload at most %(n)d rows at a time.", n=lists.MAX_IMPORT))
    ignored = [title for i, title in enumerate(header) if i not in positions.values()]
    return CsvUpload(secure_filename(filename or "") or "upload.csv", mapping, ignored,
                     people[:PREVIEW_ROWS], people)


def store_upload(actor_id: int, slug: str, content: bytes, filename: str) -> tuple[CsvUpload, str]:
    """Check an uploaded file and keep it until the coordinator confirms; returns a signed ref.

    :raise NotFound: no such list. :raise ValidationError: the file cannot be read.
    """
    lists.get_list(slug)
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
    summary = lists.import_subscribers(slug, {"subscribers": upload.people, "confirmed": True},
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
