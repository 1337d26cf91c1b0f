"""Users: coordinators, API tokens and the session loader."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from objectwar import ratelimit, security
from objectwar.accounts.models import ApiToken, Invitation, Role, User
from objectwar.audit.services import record
from objectwar.errors import GENERAL, Conflict, NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mail import notices as mail_notices
from objectwar.mail.models import Notice, NoticeKind
from objectwar.organisations.models import OrganisationStatus
from objectwar.types import utcnow
from objectwar.validation import collect, merge, validate_email

if TYPE_CHECKING:
    from objectwar.organisations.models import Organisation

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000


def load_session_user(session_id: str) -> User | None:
    """Flask-Login's loader: ``"<id>:<session version>"``; an old version logs out."""
    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email_digest == security.email_digest(email)))


def check_password_rules(password: str, email: str | None = None) -> None:
    """:raise ValidationError: the password is too short, too common or the address itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(errors={"password": [
            _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        ]})
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(errors={"password": [
            _("Use at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
        ]})
    lowered = password.strip().lower()
    if (lowered in common_passwords() or len(set(lowered)) < 4
            or (email and lowered in {email.lower(), email.lower().partition("@")[0]})):
        raise ValidationError(errors={"password": [
            _("This password is too easy to guess. Please choose another one.")
        ]})


def create_coordinator(email: str, password: str) -> tuple[User, bool]:
    """Create a coordinator, or re-activate one and set the password.

    Returns the user and whether it was created.
    :raise ValidationError: the address or the password is not acceptable.
    """
    address = validate_email(email, field="email")
    check_password_rules(password)
    user = find_user_by_email(address)
    created = user is None
    if user is None:
        user = User(email_digest=security.email_digest(address), email=address, role=Role.COORDINATOR)
        db.session.add(user)
    user.role = Role.COORDINATOR
    user.organisation_id = None
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    user.password_hash = security.hash_password(password)
    user.session_version = (user.session_version or 0) + 1
    db.session.commit()
    return user, created


def create_api_token(email: str, name: str) -> str:
    """Make a named API token for a user; return it (it is stored hashed).

    :raise ValidationError: no such user, or no name.
    """
    name = name.strip()
    if not name:
        raise ValidationError(errors={"name": [_("Give the token a name.")]})
    user = find_user_by_email(email)
    if user is None or not user.active:
        raise ValidationError(errors={"email": [_("No active user has this address.")]})
    token = security.random_token()
    db.session.add(ApiToken(user=user, name=name[:100], token_hash=security.hash_token(token)))
    db.session.commit()
    return token


def user_for_api_token(token: str) -> User | None:
    """The active user a bearer token belongs to, or ``None``."""
    api_token = db.session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == security.hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if api_token is None or not api_token.user.active:
        return None
    api_token.last_used_at = utcnow()
    db.session.commit()
    return api_token.user


# -- passwords, login, resets, invitations ---------------------------------------

# The account is throttled after this many failed logins in a row: each further
# failure doubles the wait, up to LOCK_MAX_SECONDS. A success clears it.
LOCK_AFTER = 5
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 15 * 60
GUESS_SCOPE = "login-guess"
DEVICE_PURPOSE = "device"
DEVICE_COOKIE = "objectwar_device"
DEVICE_MAX_AGE = 180 * 24 * 3600
INVITATION_MAX_AGE = 7 * 24 * 3600
RESET_MAX_AGE = 3600


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords (lower case)."""
    text = resources.files("objectwar.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str, confirm: str, email: str | None = None) -> None:
    """:raise ValidationError: the two entries differ or the password breaks a rule (both at once)."""
    errors: list[ValidationError] = []
    collect(errors, check_password_rules, password, email)
    if password != confirm:
        errors.append(ValidationError(errors={"confirm": [_("The two passwords are not the same.")]}))
    if errors:
        raise merge(errors)


def check_login_input(email: str, password: str) -> None:
    """:raise ValidationError: a field of the login form is empty (each one named)."""
    errors: dict[str, list[str]] = {}
    if not email.strip():
        errors["email"] = [_("Please enter your email address.")]
    if not password:
        errors["password"] = [_("Please enter your password.")]
    if errors:
        raise ValidationError(errors=errors)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else ``None`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def lock_delay(failed_logins: int) -> int:
    """Seconds an account waits after ``failed_logins`` failures in a row (0: no wait)."""
    if failed_logins < LOCK_AFTER:
        return 0
    return min(LOCK_BASE_SECONDS * 2 ** (failed_logins - LOCK_AFTER), LOCK_MAX_SECONDS)


def device_token(user: User) -> str:
    """A cookie's value naming a browser its owner logged in with (OWASP "device cookies")."""
    return security.make_token(DEVICE_PURPOSE, {"u": user.id})


def _known_device(user: User, token: str | None) -> bool:
    if not token:
        return False
    try:
        payload = security.read_token(DEVICE_PURPOSE, token, max_age=DEVICE_MAX_AGE)
    except security.TokenError:
        return False
    return isinstance(payload, dict) and payload.get("u") == user.id


def _guess_key(user_id: int, client: str) -> str:
    return f"{user_id}:{client}"


def _throttled(user: User, now: datetime, client: str, device: str | None) -> bool:
    """Whether this attempt is refused unheard.

    Failures are counted per account and client address together (a guesser slows down,
    the owner elsewhere does not), and per account: that wait binds every browser but
    those the owner logged in with before, so a stranger cannot keep the owner out.
    """
    if ratelimit.budget_spent(_guess_limit(), GUESS_SCOPE, _guess_key(user.id, client)):
        return True
    return bool(user.locked_until and user.locked_until > now and not _known_device(user, device))


def _count_failure(user: User, now: datetime, client: str) -> None:
    ratelimit.within_budget(_guess_limit(), GUESS_SCOPE, _guess_key(user.id, client))
    # Counted in the database: failures at the same moment each count (the row stays
    # locked until the commit below).
    failures = db.session.execute(
        update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins).execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(user, "failed_logins", failures)
    delay = lock_delay(failures)
    user.locked_until = now + timedelta(seconds=delay) if delay else None
    db.session.commit()


def _guess_limit() -> str:
    return current_app.config.get("LOGIN_GUESS_LIMIT", "5 per 15 minutes")


def authenticate(email: str, password: str, *, client: str = "-", device: str | None = None) -> User | None:
    """The user these credentials belong to, or ``None``: the caller cannot tell why.

    ``client`` names the client (``ratelimit.client_key()``), ``device`` is the browser's
    device cookie. An unknown address, a wrong password, an inactive or a throttled
    account all answer ``None`` after about the same work (one Argon2 computation).
    For a user with two-factor login (``user.has_two_factor``) the caller asks for the
    code next (``two_factor.complete_login``) before logging them in.
    """
    try:
        address = validate_email(email)
    except ValidationError:
        address = None
    user = find_user_by_email(address) if address else None
    now = utcnow()
    if user is None or not user.active or _throttled(user, now, client, device):
        security.verify_password(None, password)
        return None
    if not security.verify_password(user.password_hash, password):
        _count_failure(user, now, client)
        return None
    if user.password_hash and security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    if not user.has_two_factor:
        # With two-factor login the code's check clears these (two_factor.complete_login):
        # a right password alone must not wipe out wrong codes.
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
    db.session.commit()
    return user


def end_sessions(user: User) -> None:
    """Invalidate every session of ``user`` (logout, password change, log out everywhere)."""
    user.session_version = (user.session_version or 0) + 1
    db.session.commit()


def change_password(user: User, current: str, password: str, confirm: str, *,
                    client: str = "-") -> None:
    """Set a new password; every other session ends.

    Wrong current passwords count and are throttled as failed logins are (a session
    is no licence to guess); a throttled attempt is refused unheard.
    :raise ValidationError: the current password is wrong or the new one breaks a rule.
    """
    now = utcnow()
    if (ratelimit.budget_spent(_guess_limit(), GUESS_SCOPE, _guess_key(user.id, client))
            or (user.locked_until and user.locked_until > now)):
        security.verify_password(None, current)
        raise ValidationError(errors={"current": [
            _("There were too many attempts. Please wait a moment and try again.")]})
    if not security.verify_password(user.password_hash, current):
        _count_failure(user, now, client)
        raise ValidationError(errors={"current": [_("This is not your current password.")]})
    check_new_password(password, confirm, user.email)
    user.failed_logins = 0
    user.locked_until = None
    user.password_hash = security.hash_password(password)
    end_sessions(user)


def _password_fingerprint(user: User) -> str:
    # Changes whenever the password does, so a reset link works once.
    return security.keyed_digest("reset:" + (user.password_hash or ""))[:24]


def reset_token(user: User) -> str:
    return security.make_token("reset", {"u": user.id, "f": _password_fingerprint(user)})


def user_for_reset_token(token: str) -> User:
    """:raise NotFound: the link is forged, expired (1 hour) or already used."""
    try:
        payload = security.read_token("reset", token, max_age=current_app.config.get(
            "RESET_MAX_AGE", RESET_MAX_AGE))
    except security.TokenError:
        raise _bad_link() from None
    user = db.session.get(User, payload.get("u")) if isinstance(payload, dict) else None
    if user is None or not user.active or payload.get("f") != _password_fingerprint(user):
        raise _bad_link()
    return user


def request_password_reset(email: str, locale: str) -> Notice | None:
    """Queue a reset email when an active user has this address; the caller answers the same."""
    try:
        address = validate_email(email)
    except ValidationError:
        return None
    user = find_user_by_email(address)
    if user is None or not user.active:
        return None
    notice = mail_notices.queue(NoticeKind.PASSWORD_RESET, user.id, user.email, user.locale or locale)
    db.session.commit()
    return notice


def reset_password(token: str, password: str, confirm: str) -> User:
    """Set a new password from a reset link; every session of the user ends.

    :raise NotFound: bad link. :raise ValidationError: the password breaks a rule.
    """
    user = user_for_reset_token(token)
    check_new_password(password, confirm, user.email)
    user.password_hash = security.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(user)
    return user


def _bad_link() -> NotFound:
    return NotFound(errors={"token": [
        _("This link is not valid any more. It may have expired or been used already.")
    ]})


def invitation_token(invitation: Invitation) -> str:
    return security.make_token("invitation", {"i": invitation.id, "e": invitation.email_digest[:16]})


def invitation_max_age() -> int:
    """Seconds an invitation's link works (7 days unless configured)."""
    return current_app.config.get("INVITATION_MAX_AGE", INVITATION_MAX_AGE)


def _invitation_usable(invitation: Invitation) -> bool:
    if invitation.role == Role.COORDINATOR:
        return invitation.organisation_id is None
    return (invitation.organisation is not None
            and invitation.organisation.status == OrganisationStatus.MEMBER)


def invitation_for_token(token: str) -> Invitation:
    """:raise NotFound: the link is forged, expired (7 days), used or revoked, or its
    organisation is no member (any more)."""
    try:
        payload = security.read_token("invitation", token, max_age=invitation_max_age())
    except security.TokenError:
        raise _bad_link() from None
    invitation = db.session.get(Invitation, payload.get("i")) if isinstance(payload, dict) else None
    if (invitation is None or not invitation.is_open
            or payload.get("e") != invitation.email_digest[:16]
            or not _invitation_usable(invitation)):
        raise _bad_link()
    return invitation


def invite(organisation: Organisation, email: str, locale: str,
           invited_by: User | None) -> Notice | None:
    """Invite an address to the organisation and queue the email.

    An address that already has an account gets nothing (the caller answers the
    same way). Adds to the session; the caller commits with its own change.
    :raise ValidationError: not an email address.
    """
    address = validate_email(email)
    digest = security.email_digest(address)
    if db.session.scalar(select(User.id).where(User.email_digest == digest)) is not None:
        return None
    invitation = Invitation(organisation=organisation, email_digest=digest, email=address,
                            locale=locale, invited_by=invited_by)
    db.session.add(invitation)
    db.session.flush()
    return mail_notices.queue(NoticeKind.INVITATION, invitation.id, address, locale)


def accept_invitation(token: str, password: str, confirm: str) -> User:
    """Create the user of an invitation with its password: a member of the invitation's
    organisation, or a coordinator.

    :raise NotFound: bad link. :raise ValidationError: the password breaks a rule.
    :raise Conflict: the address has an account already.
    """
    invitation = invitation_for_token(token)
    check_new_password(password, confirm, invitation.email)
    if find_user_by_email(invitation.email) is not None:
        raise Conflict(errors={"token": [
            _("This address has an account already. Log in, or ask for a new password.")
        ]})
    coordinator = invitation.role == Role.COORDINATOR
    user = User(email_digest=invitation.email_digest, email=invitation.email,
                role=Role.COORDINATOR if coordinator else Role.MEMBER,
                organisation_id=None if coordinator else invitation.organisation_id,
                locale=invitation.locale, password_hash=security.hash_password(password),
                last_login_at=utcnow())
    db.session.add(user)
    invitation.accepted_at = utcnow()
    # Other open invitations of the same address are spent too.
    for other in db.session.scalars(select(Invitation).where(
            Invitation.email_digest == invitation.email_digest, Invitation.id != invitation.id,
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        other.revoked_at = utcnow()
    db.session.flush()
    record("user.join", user, actor_id=user.id, organisation_id=user.organisation_id,
           invitation_id=invitation.id, role=str(user.role))
    db.session.commit()
    return user


def colleagues(organisation: Organisation) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.organisation_id == organisation.id).order_by(User.created_at, User.id)
    ))


def open_invitations(organisation: Organisation) -> list[Invitation]:
    return list(db.session.scalars(
        select(Invitation).where(Invitation.organisation_id == organisation.id,
                                 Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at, Invitation.id)
    ))


def get_colleague(organisation: Organisation, user_id: int) -> User:
    """:raise NotFound: no such user in this organisation (other organisations' too)."""
    user = db.session.get(User, user_id)
    if user is None or user.organisation_id != organisation.id:
        raise NotFound()
    return user


def remove_colleague(actor: User, organisation: Organisation, user_id: int) -> None:
    """Delete a colleague's account. :raise NotFound: not in this organisation. :raise Conflict: oneself."""
    user = get_colleague(organisation, user_id)
    if user.id == actor.id:
        raise Conflict(errors={GENERAL: [_("You cannot remove yourself.")]})
    record("organisation.colleague_removed", organisation, actor_id=actor.id, user_id=user.id)
    db.session.delete(user)
    db.session.commit()


def invite_colleague(actor: User, organisation: Organisation, email: str,
                     locale: str) -> Notice | None:
    """Invite a colleague; the same answer whether or not the address has an account."""
    notice = invite(organisation, email, locale, actor)
    record("organisation.colleague_invited", organisation, actor_id=actor.id,
           invitation_id=notice.target_id if notice else None)
    db.session.commit()
    return notice


def revoke_invitation(actor: User, organisation: Organisation, invitation_id: int) -> None:
    """:raise NotFound: no open invitation of this organisation with this id."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organisation_id != organisation.id or not invitation.is_open:
        raise NotFound()
    invitation.revoked_at = utcnow()
    record("organisation.invitation_revoked", organisation, actor_id=actor.id,
           invitation_id=invitation.id)
    db.session.commit()


def active_coordinators() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role == Role.COORDINATOR, User.active.is_(True)).order_by(User.id)
    ))
