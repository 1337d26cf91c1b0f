"""Signing a petition: the one set of input rules, the form's bot traps, storing, the
confirmation email, confirming. (The petition page is ``petition_page.py``.)

The signature row is the record that a confirmation email is due
(``confirmation_due_at``). Views commit the row through :func:`sign`, then
enqueue :func:`send_confirmation` by id; a periodic task sends whatever is
still due (:func:`overdue_confirmations`), so a lost queue message only delays.
Nothing here tells a caller whether an address had signed before.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, TextClause, bindparam, literal_column, or_, select, text, update
from sqlalchemy.exc import DBAPIError

from objectwar import security
from objectwar.errors import GENERAL, NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mail import claims, rows, verp
from objectwar.mail import message as mailer
from objectwar.mailing import subscribe as mailing
from objectwar.mailing import suppression
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions import counts
from objectwar.petitions.models import Petition, PetitionStatus, Signature
from objectwar.petitions.services import get_public_petition
from objectwar.types import utcnow
from objectwar.validation import (
    clean_name,
    collect,
    is_slug,
    merge,
    validate_country,
    validate_email,
    validate_locale,
)

# Version of the consent text shown next to the checkbox; stored with each
# signature. Change it whenever the wording of the consent changes.
CONSENT_VERSION = "2026-11-sign-1"
# Version of the wording of the partner's box ("... may contact me about its work").
PARTNER_CONSENT_VERSION = "2026-11-partner-1"

CONFIRM_PURPOSE = "confirm-signature"
FORM_PURPOSE = "sign-form"
MAX_SENDS_PER_DAY = 3
SEND_WINDOW = timedelta(hours=24)
UPDATES_LIST = "updates"

# The configured subject is translated when it is the default one.
DEFAULT_SUBJECT = "Please confirm your signature"

FIELDS = ("first_name", "last_name", "email", "country", "consent", "updates",
          "public_name", "locale", "organisation", "partner_consent")

_TRUE_FORM_VALUES = frozenset({"y", "yes", "on", "1", "true"})


@dataclass(frozen=True)
class SignatureInput:
    """A signer's validated input."""

    first_name: str
    last_name: str
    email: str
    country: str
    locale: str
    updates: bool = False
    public_name: bool = False
    organisation_id: int | None = None
    partner_consent: bool = False  # only ever true with an organisation


@dataclass
class SignOutcome:
    """What a view needs after signing: the row to send for, and notices for the signer."""

    signature_id: int
    notices: list[str] = field(default_factory=list)


# -- input -------------------------------------------------------------------------


def _text(data: Mapping[str, Any], name: str, errors: list[ValidationError]) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    errors.append(ValidationError(errors={name: [_("This field must be text.")]}))
    return None


def _flag(data: Mapping[str, Any], name: str, from_form: bool,
          errors: list[ValidationError]) -> bool:
    value = data.get(name)
    if from_form:
        return isinstance(value, str) and value.strip().lower() in _TRUE_FORM_VALUES
    if value is None or isinstance(value, bool):
        return bool(value)
    errors.append(ValidationError(errors={name: [_("This field must be true or false.")]}))
    return False



def parse_signature(data: Mapping[str, Any], *, default_locale: str,
                    from_form: bool = False) -> SignatureInput:
    """Validate a signer's input: a JSON object, or form fields (``from_form``).

    :raise ValidationError: every field error at once.
    """
    errors: list[ValidationError] = []
    texts = {name: _text(data, name, errors) for name in
             ("first_name", "last_name", "email", "country", "locale", "organisation")}
    flags = {name: _flag(data, name, from_form, errors)
             for name in ("consent", "updates", "public_name", "partner_consent")}
    wrong_type = {name for error in errors for name in error.errors}

    def check(name: str, rule, *args: Any) -> Any:
        return None if name in wrong_type else collect(errors, rule, *args)

    first_name = check("first_name", clean_name, texts["first_name"], "first_name")
    last_name = check("last_name", clean_name, texts["last_name"], "last_name")
    email = check("email", validate_email, texts["email"], "email")
    # JSON takes codes exactly as its schema lists them; a form's select sends them so anyway.
    exact = not from_form
    country = check("country", functools.partial(validate_country, exact=exact), texts["country"],
                    "country")
    given_locale = texts["locale"] if exact else texts["locale"] or None
    locale = check("locale", functools.partial(validate_locale, exact=exact),
                   default_locale if given_locale is None else given_locale, "locale")
    if not flags["consent"] and "consent" not in wrong_type:
        errors.append(ValidationError(errors={"consent": [
            _("Please agree to how we use your data; we cannot count your signature without it.")
        ]}))
    organisation_id = check("organisation", organisation_for, texts["organisation"])
    if errors:
        raise merge(errors)
    return SignatureInput(
        first_name=first_name, last_name=last_name, email=email, country=country,
        locale=locale, updates=flags["updates"], public_name=flags["public_name"],
        organisation_id=organisation_id,
        partner_consent=flags["partner_consent"] and organisation_id is not None,
    )


def organisation_for(slug: str | None) -> int | None:
    """The id of the member organisation a signature is credited to, or ``None``.

    :raise ValidationError: the slug names no member organisation.
    """
    slug = (slug or "").strip()
    if not slug:
        return None
    organisation_id = None if not is_slug(slug) else db.session.scalar(
        select(Organisation.id).where(
            Organisation.slug == slug, Organisation.status == OrganisationStatus.MEMBER
        )
    )
    if organisation_id is None:
        raise ValidationError(errors={"organisation": [
            _("This organisation is not a member of the campaign.")
        ]})
    return organisation_id


def ttl_days() -> int:
    return int(current_app.config["UNCONFIRMED_TTL_DAYS"])


def risky_address(email: str) -> bool:
    """Whether the address is at a provider in ``RISKY_EMAIL_DOMAINS`` (or a subdomain)."""
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    risky = {d.lower() for d in current_app.config.get("RISKY_EMAIL_DOMAINS", [])}
    return any(domain == d or domain.endswith("." + d) for d in risky)


def risky_notice() -> str:
    return _(
        "Your address is at an email provider that may have to share data with the "
        "Russian or Belarusian authorities. Your signature is accepted; if you can, "
        "consider using an address at another provider."
    )


# -- the form's bot traps ----------------------------------------------------------


def _min_fill_seconds() -> int:
    return int(current_app.config.get("SIGN_MIN_FILL_SECONDS", 3))


def form_stamp(shown_again: bool = False) -> str:
    """A signed timestamp for the forms' hidden field (minimum fill time, our own page).

    A form ``shown_again`` after a submission is stamped as if served the minimum
    fill time ago: its visitor filled it in once already, and the next press of
    the button must not be taken for a bot's.
    """
    return security.stamp(FORM_PURPOSE, age=_min_fill_seconds() if shown_again else 0)


def _stamped_at(stamp: str | None, max_age: int | None = None) -> float | None:
    """When our page made ``stamp``; ``None`` when it is forged, missing or too old."""
    try:
        return security.stamp_time(FORM_PURPOSE, stamp or "", max_age=max_age)
    except security.TokenError:
        pass
    try:  # a page served before stamps were TimestampSigner's (November 2026)
        issued = security.read_token(FORM_PURPOSE, stamp or "", max_age=max_age)
    except security.TokenError:
        return None
    return float(issued) if isinstance(issued, int) else None


def stamp_is_ours(stamp: str | None, max_age: int = 24 * 3600) -> bool:
    """Whether ``stamp`` is one of our forms' stamps, issued within ``max_age`` seconds."""
    return _stamped_at(stamp, max_age) is not None


class FormCheck(enum.Enum):
    """What the sign form's bot traps make of a submission."""

    SIGN = "sign"
    ASK_AGAIN = "ask-again"  # show the form again with its values; nothing is stored yet
    DROP = "drop"  # answer as if signed; nothing is stored


def check_form(honeypot: str | None, stamp: str | None) -> FormCheck:
    """Judge a sign form by its honeypot and its stamp.

    Only a filled honeypot, which no person sees, is dropped. A form sent faster
    than ``SIGN_MIN_FILL_SECONDS`` (autofill and a tap), older than
    ``SIGN_MAX_FILL_SECONDS`` (a tab left open) or without a stamp of ours is
    shown again, as a person may well have sent it.
    """
    if honeypot:
        return FormCheck.DROP
    max_age = int(current_app.config.get("SIGN_MAX_FILL_SECONDS", 24 * 3600))
    issued = _stamped_at(stamp, max_age)
    if issued is None or time.time() - issued < _min_fill_seconds():
        return FormCheck.ASK_AGAIN
    return FormCheck.SIGN


def ask_again_message() -> str:
    return _("Nothing is saved yet: please check your details and press Sign again.")


# -- signing -------------------------------------------------------------------------


def closed_error() -> ValidationError:
    return ValidationError(errors={GENERAL: [
        _("This petition is closed and no longer takes signatures. Thank you for your support.")
    ]})


def open_petition_id(slug: str) -> int:
    """The id of an open petition (one light query: signing needs no texts).

    :raise NotFound: no such public petition. :raise ValidationError: it is closed.
    """
    row = db.session.execute(
        select(Petition.id, Petition.status).where(Petition.slug == slug)
    ).first()
    if row is None or row.status == PetitionStatus.DRAFT:
        get_public_petition(slug)  # raises the usual NotFound
    if row.status != PetitionStatus.OPEN:
        raise closed_error()
    return row.id


def petition_id_for(slug: str) -> int:
    """The id of the petition at ``slug``, remembered by this process (ids never change).

    :raise NotFound: no such public petition. :raise ValidationError: it is closed.
    """
    known: dict[str, int] = current_app.extensions.setdefault("objectwar.petition_ids", {})
    if slug not in known:
        known[slug] = open_petition_id(slug)
    return known[slug]


def _daily_limit(window_start: Any, sends: Any, cutoff: Any, max_sends: Any) -> Any:
    """The rule of the emails to one address: fewer than ``max_sends`` in the window that
    began at ``window_start`` (none yet, or it began before ``cutoff``: a new one)."""
    return or_(window_start.is_(None), window_start <= cutoff, sends < max_sends)


def _allowance(now):
    """SQL: the row's address may get another email now (:func:`_daily_limit`)."""
    return _daily_limit(Signature.confirmation_window_start, Signature.confirmation_sends,
                        now - SEND_WINDOW, MAX_SENDS_PER_DAY)


def sign(slug: str, data: Mapping[str, Any], *, default_locale: str,
         from_form: bool = False) -> SignOutcome:
    """Record a signature (or a repeat of one) and mark its email as due.

    New and repeat signers cost the request the same work: one statement
    (:func:`_insert_sql`) that stores a new signature, or marks a repeat's email
    as due within the daily limit and leaves its data as it is, and returns the
    row's id either way. The caller enqueues that id; the worker decides from the
    row what to send (:func:`send_confirmation`), or that nothing is due.
    :raise ValidationError: invalid input, or the petition is closed.
    :raise NotFound: no such public petition.
    """
    petition_id = petition_id_for(slug)
    given = parse_signature(data, default_locale=default_locale, from_form=from_form)
    notices = [risky_notice()] if risky_address(given.email) else []
    digest = security.email_digest(given.email)
    now = utcnow()
    values = {
        "petition_id": petition_id, "email_digest": digest, "email": given.email,
        "first_name": given.first_name, "last_name": given.last_name, "country": given.country,
        "locale": given.locale, "public_name": given.public_name,
        "wants_updates": given.updates, "organisation_id": given.organisation_id,
        "consent_version": CONSENT_VERSION, "created_at": now, "confirmation_due_at": now,
        "confirmation_sends": 0, "partner_consent": given.partner_consent,
        "partner_consent_version": PARTNER_CONSENT_VERSION if given.partner_consent else None,
    }
    # The lookups above may have begun a transaction holding a pooled connection:
    # end it (nothing was written), so that no request holds one connection while
    # waiting for another; under load that would deadlock the pool. (Without
    # lookups there is no session, and none is made just to end it.)
    if db.session.registry.has():
        db.session.rollback()
    # One statement in autocommit: no BEGIN and COMMIT round trips around it.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        signature_id = _insert(conn, values, now)
    if signature_id is None:
        # Nothing stored: the petition is no longer open (new and repeat signers alike).
        open_petition_id(slug)
        raise closed_error()  # pragma: no cover - reopened between the two statements
    return SignOutcome(signature_id, notices)


_INSERT_COLUMNS = (
    "petition_id", "email_digest", "email", "first_name", "last_name", "country", "locale",
    "public_name", "wants_updates", "organisation_id", "consent_version", "created_at",
    "confirmation_due_at", "confirmation_sends", "partner_consent", "partner_consent_version",
)


def _insert_sql(placeholder: Callable[[str], str]) -> str:
    """The signing statement (the busiest write of the campaign), with the parameter
    ``name`` written as ``placeholder(name)``.

    It stores nothing when the petition is not open, and returns no id. Else it
    returns the row's id, new or not: an address that has signed before (the unique
    constraint decides, race or not) keeps its row and data, and its email becomes
    due again unless one is due already or the address had ``max_sends`` emails
    since ``window_cutoff`` (:func:`_daily_limit`). A repeat's row is written even
    when nothing changes, so that it costs what a new row does.
    """
    columns = ", ".join(_INSERT_COLUMNS)
    params = ", ".join(placeholder(name) for name in _INSERT_COLUMNS)
    stored = {name: literal_column(f"signatures.{name}")
              for name in ("confirmation_window_start", "confirmation_sends")}
    allowed = _daily_limit(stored["confirmation_window_start"], stored["confirmation_sends"],
                           literal_column(placeholder("window_cutoff")),
                           literal_column(placeholder("max_sends")))
    due_again = ("signatures.confirmation_due_at IS NULL AND "
                 f"({allowed.compile(compile_kwargs={'literal_binds': True})})")
    # The names are the constants above; every value is bound.
    return (
        f"INSERT INTO signatures ({columns}) SELECT {params} "  # noqa: S608
        f"WHERE EXISTS (SELECT 1 FROM petitions WHERE id = {placeholder('petition_id')} "
        f"AND status = {placeholder('open')}) "
        "ON CONFLICT (petition_id, email_digest) DO UPDATE SET "
        f"confirmation_due_at = CASE WHEN {due_again} THEN excluded.confirmation_due_at "
        "ELSE signatures.confirmation_due_at END, "
        f"confirmation_failures = CASE WHEN {due_again} THEN 0 "
        "ELSE signatures.confirmation_failures END "
        "RETURNING id"
    )


@functools.cache
def _insert_statement() -> TextClause:
    """:func:`_insert_sql` for SQLAlchemy, with the model's column types on the values."""
    table = Signature.__table__
    return text(_insert_sql(lambda name: f":{name}")).bindparams(
        *(bindparam(name, type_=table.c[name].type) for name in _INSERT_COLUMNS),
        bindparam("open", PetitionStatus.OPEN.value),
        bindparam("window_cutoff", type_=table.c.confirmation_window_start.type),
        bindparam("max_sends", MAX_SENDS_PER_DAY, type_=Integer),
    ).columns(id=Integer)


# :func:`_insert_sql` in psycopg's own placeholders (see :func:`_insert`).
_PSYCOPG_INSERT = _insert_sql(lambda name: f"%({name})s")
# Columns whose values are encrypted at rest (``Encrypted`` in the model).
_ENCRYPTED_COLUMNS = ("email", "first_name", "last_name")


def _insert(conn: Any, values: dict[str, Any], now: datetime) -> int | None:
    """Run the signing statement (:func:`_insert_sql`) on ``conn`` (autocommit); the
    row's id, or ``None`` when the petition is not open.

    On PostgreSQL, psycopg runs it as a prepared statement on the pooled
    connection itself: SQLAlchemy's statement execution costs more than the
    statement on the busiest write of the campaign. The values get what the
    model's column types would do (encryption; datetimes are already UTC).
    """
    window = {"window_cutoff": now - SEND_WINDOW}
    if conn.dialect.driver != "psycopg":
        return conn.execute(_insert_statement(), {**values, **window}).scalar()
    params = {**values, **window, "open": PetitionStatus.OPEN.value, "max_sends": MAX_SENDS_PER_DAY}
    for name in _ENCRYPTED_COLUMNS:
        params[name] = security.encrypt(values[name])
    driver = conn.connection.driver_connection
    try:
        row = driver.execute(_PSYCOPG_INSERT, params, prepare=True).fetchone()
    except psycopg.Error as error:
        # Raised past SQLAlchemy: give it SQLAlchemy's form, so that a database that went
        # away is a 503 (``errors.py``) and a dropped connection leaves the pool.
        lost = driver.closed
        if lost:
            conn.invalidate()
        raise DBAPIError.instance(_PSYCOPG_INSERT, None, error, psycopg.Error,
                                  hide_parameters=True, connection_invalidated=lost) from error
    return None if row is None else row[0]


# -- the outbox ------------------------------------------------------------------------


def _claim(signature_id: int, now) -> str | None:
    """Claim the row's due email for this runner (``mail.claims``); the token, or ``None``.

    Over the daily limit of emails to the address, the email is dropped, not
    postponed to tomorrow.
    """
    token = rows.claim_due(Signature, signature_id, _allowance(now), now=now)
    if token is None:
        db.session.execute(
            update(Signature)
            .where(Signature.id == signature_id, Signature.confirmation_due_at <= now,
                   claims.free(Signature, now), ~_allowance(now))
            .values(confirmation_due_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return token


def send_confirmation(signature_id: int) -> bool:
    """Send the due email of one signature, if this runner claims it; return whether sent.

    A confirmed signer gets "you have already signed"; an unconfirmed one a
    (new) confirmation link. A failed send is retried after ``MAIL_RETRY_SECONDS``,
    doubling with each further failure, and given up like a notice (``mail.retry``).
    """
    now = utcnow()
    token = _claim(signature_id, now)
    if token is None:
        return False
    signature = db.session.get(Signature, signature_id)
    if signature is None:  # pragma: no cover - deleted between claim and read
        return False
    window_start, sends = signature.confirmation_window_start, signature.confirmation_sends
    if not rows.send(Signature, signature_id, token, lambda: _message(signature),
                     sent_as=verp.Tag(verp.Sent.SIGNATURE, (signature_id,))):
        return False
    sent_at = utcnow()
    if window_start is None or window_start <= sent_at - SEND_WINDOW:
        window_start, sends = sent_at, 0
    rows.mark_sent(Signature, signature_id, token, sent_at,
                   confirmation_sends=sends + 1, confirmation_window_start=window_start)
    return True


def remind_unconfirmed(now: datetime | None = None) -> list[int]:
    """Make the one reminder due on signatures still unconfirmed ``CONFIRMATION_REMINDER_HOURS``
    after their last email (0: never), except to suppressed addresses and beyond the
    day's allowance. Returns the ids to queue."""
    hours = current_app.config.get("CONFIRMATION_REMINDER_HOURS", 24)
    if not hours:
        return []
    now = now or utcnow()
    return rows.remind(Signature, Signature.confirmed_at.is_(None), _allowance(now),
                       ~suppression.is_suppressed(Signature.email_digest),
                       after=timedelta(hours=hours), now=now)


def overdue_confirmations(older_than: timedelta = timedelta(minutes=1),
                          limit: int = 500) -> list[int]:
    """Ids of signatures whose email has been due for longer than ``older_than``."""
    return rows.overdue_ids(Signature, older_than, limit)


def sender_name() -> str:
    """The display name confirmation emails come from, in the current language."""
    return str(mailer.confirmation_sender()[0])


def subject() -> Any:
    """The subject of confirmation emails: neutral, translated when it is the default."""
    return mailer.configured_text("CONFIRMATION_SUBJECT", DEFAULT_SUBJECT,
                                  _l("Please confirm your signature"))


def _message(signature: Signature):
    petition = signature.petition
    text = petition.text_for(signature.locale)
    title = text.title if text else petition.slug
    context: dict[str, Any] = {
        "first_name": signature.first_name, "title": title,
        "petition_url": mailer.external_url("petitions.detail", slug=petition.slug),
        "my_data_url": mailer.external_url("privacy.request_form"),
    }
    if signature.is_confirmed:
        # Its own neutral subject: no link to press, and nothing that says why it came.
        template, message_subject = "already_signed", _l("About your signature")
    else:
        template = "confirm_signature"
        context["confirm_url"] = mailer.external_url(
            "petitions.confirm", slug=petition.slug, token=confirmation_token(signature)
        )
        context["ttl_days"] = current_app.config["UNCONFIRMED_TTL_DAYS"]
        context["reminder"] = rows.is_reminder(signature)
        message_subject = subject()
    return mailer.compose(template, to=signature.email, locale=signature.locale,
                          subject=message_subject, sender=mailer.confirmation_sender(), **context)


# -- confirming ------------------------------------------------------------------------


def confirmation_token(signature: Signature) -> str:
    # The digest prefix binds the token to this signer even if an id is ever reused.
    return security.make_token(
        CONFIRM_PURPOSE, [signature.id, signature.petition_id, signature.email_digest[:16]]
    )


def _bad_link() -> NotFound:
    return NotFound(errors={"token": [_(
        "This confirmation link is not valid or has expired. If you signed a while ago, "
        "please sign again to get a new link."
    )]})


def signature_for_token(slug: str, token: str) -> Signature:
    """The signature a confirmation link belongs to (reading only).

    :raise NotFound: forged, altered or expired link, or the signature is gone.
    """
    petition = get_public_petition(slug)
    max_age = current_app.config["UNCONFIRMED_TTL_DAYS"] * 24 * 3600
    try:
        payload = security.read_token(CONFIRM_PURPOSE, token, max_age=max_age)
    except security.TokenError:
        raise _bad_link() from None
    if (not isinstance(payload, list) or len(payload) != 3
            or not all(isinstance(part, int | str) for part in payload)):
        raise _bad_link()
    signature_id, petition_id, digest_prefix = payload
    signature = db.session.get(Signature, signature_id) if isinstance(signature_id, int) else None
    if (signature is None or petition_id != petition.id or signature.petition_id != petition.id
            or signature.email_digest[:16] != digest_prefix):
        raise _bad_link()
    return signature


def confirm(slug: str, token: str) -> Signature:
    """Confirm a signature, idempotently; count it once; subscribe it to updates if asked.

    :raise NotFound: a bad link. :raise ValidationError: the petition is closed.
    """
    signature = signature_for_token(slug, token)
    if signature.petition.status != PetitionStatus.OPEN and not signature.is_confirmed:
        raise closed_error()
    now = utcnow()
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.confirmed_at.is_(None))
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        if signature.wants_updates:
            try:
                mailing.subscribe_confirmed(
                    UPDATES_LIST, email=signature.email,
                    name=f"{signature.first_name} {signature.last_name}",
                    locale=signature.locale, country=signature.country,
                    source=f"petition:{signature.petition.slug}", consented_at=now,
                )
            except NotFound:
                # No "updates" list on this installation: the signature counts all the same.
                current_app.logger.warning("No %r list: signer %s not subscribed",
                                           UPDATES_LIST, signature.id)
        # The counters last, right before the commit: every confirmation of the petition
        # waits for their rows' locks, so they are held for as short a time as can be.
        counts.move_confirmed({(signature.petition_id, signature.country): 1})
    db.session.commit()
    db.session.refresh(signature)
    db.session.refresh(signature.petition)
    return signature
