"""Coordinators' work on mailing lists themselves: find, count, create and edit them.

Every change is written to the audit log with the coordinator who made it. A
list's name and description in more languages are ``list_texts``; its people
are ``subscribers``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from objectwar.audit.services import changes, record
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mailing import list_texts
from objectwar.mailing.models import MailingList, Subscription, SubscriptionStatus
from objectwar.types import day_text, utc_day, utcnow
from objectwar.validation import clean_name, clean_text, fail, is_slug, merge

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def get_list(slug: str) -> MailingList:
    """:raise NotFound: no such list."""
    mailing_list = is_slug(slug) and db.session.scalar(
        select(MailingList).where(MailingList.slug == slug))
    if not mailing_list:
        raise NotFound(errors={"slug": [_("There is no list with this name.")]})
    return mailing_list


def lists_with_counts() -> list[dict[str, Any]]:
    """Every list with the number of people subscribed (CONTRACT.md's ``GET /api/v1/lists``)."""
    counts = (
        select(Subscription.list_id, func.count().label("n"))
        .where(Subscription.status == SubscriptionStatus.SUBSCRIBED)
        .group_by(Subscription.list_id).subquery()
    )
    rows = db.session.execute(
        select(MailingList.slug, MailingList.name, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.list_id == MailingList.id)
        .order_by(MailingList.name)
    )
    return [{"slug": slug, "name": name, "subscribers": n} for slug, name, n in rows]


def growth(slug: str, days: int = 30) -> list[dict[str, Any]]:
    """People who joined the list (confirmed) per UTC day over the last ``days``, newest first."""
    since = utcnow() - timedelta(days=days)
    column = Subscription.consented_at
    day = utc_day(column)
    rows = db.session.execute(
        select(day, func.count())
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(MailingList.slug == slug, column.is_not(None), column >= since)
        .group_by(day).order_by(day.desc())
    )
    return [{"date": day_text(value), "joined": count} for value, count in rows]



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
    mailing_list = get_list(slug)
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

