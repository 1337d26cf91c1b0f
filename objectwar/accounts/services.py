"""Users: coordinators, API tokens and the session loader."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from objectwar import security
from objectwar.accounts.models import ApiToken, Role, User
from objectwar.errors import ValidationError
from objectwar.extensions import db
from objectwar.types import utcnow
from objectwar.validation import validate_email

MIN_PASSWORD_LENGTH = 12


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


def check_password_rules(password: str) -> None:
    """:raise ValidationError: the password is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(errors={"password": [
            _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
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
