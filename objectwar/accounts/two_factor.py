"""Two-factor login: codes from an authenticator app (TOTP, RFC 6238) and recovery codes.

A user sets it up by scanning the QR code of a new secret into an authenticator
app and typing a code it shows. The secret is stored encrypted, as other personal
data is (``objectwar.types.Encrypted``). The time step of each accepted code is
kept, and a code is accepted only for a later step: a code works once, never twice
within its 30 seconds.

Ten recovery codes, shown once, stand in for a lost phone; each works once. They
are random (about 50 bits each), so they are stored as keyed HMAC-SHA256 digests
(``security.keyed_digest``) rather than with Argon2: a slow hash protects secrets a
person chose and an attacker can guess; these cannot be guessed, the key is not in
the database (a stolen copy of the table is useless without it), and a login checks
one digest in one look-up instead of ten Argon2 computations.

Coordinators must use it when ``COORDINATOR_2FA`` is ``required``; members may.
Wrong codes count as wrong passwords do (:mod:`objectwar.accounts.services`: per
account and client address, and per account). A coordinator whose phone is lost
and who has no recovery code left is reset by another coordinator (audited).
"""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from objectwar import ratelimit, security
from objectwar.accounts.coordinators import get_coordinator
from objectwar.accounts.models import RecoveryCode, Role, User
from objectwar.accounts.services import _count_failure, _throttled
from objectwar.audit.services import record
from objectwar.errors import GENERAL, Conflict, ValidationError
from objectwar.extensions import db
from objectwar.types import utcnow

REQUIRED = "required"
CODE_DIGITS = 6
# One time step either side of now: a phone whose clock is a little off still works.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
# Codes tried at a login's second step, right or wrong, per account (``TWO_FACTOR_CODE_LIMIT``).
CODE_LIMIT = "10 per 5 minutes"
CODE_SCOPE = "two-factor-code"
# Ten characters without look-alikes (0/o, 1/l/i): about 50 bits, easy to type from paper.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10

#: The clock codes are checked against (UNIX time); tests replace it.
clock = time.time


# -- who must, who may ----------------------------------------------------------------------


def required_for(user: User) -> bool:
    """Whether this user may not do without two-factor login (coordinators, when required).

    Anything but ``optional`` in the configuration counts as required: a typo never
    switches the rule off.
    """
    return user.role == Role.COORDINATOR and current_app.config.get("COORDINATOR_2FA") != "optional"


def must_enrol(user: User) -> bool:
    """Whether this logged-in user must set up two-factor login before anything else."""
    return isinstance(user, User) and required_for(user) and not user.has_two_factor


def can_disable(user: User) -> bool:
    return user.has_two_factor and not required_for(user)


# -- setting it up ---------------------------------------------------------------------------


def _setup_mark(secret: str) -> str:
    """What a set-up's session keeps of its secret: it proves the session began it."""
    return security.short_signature("two-factor-setup", secret)


def begin_enrolment(user: User, mark: str | None = None) -> tuple[str, str]:
    """The secret the user is setting up, and the mark its session keeps (``mark``).

    A secret is reused only by the session that made it (``mark`` matches); any other
    visit makes a new one. So a set-up begun by someone else (a phished password
    used to open this page and copy its key) is replaced when the owner sets it up.
    :raise Conflict: two-factor login is on already.
    """
    if user.has_two_factor:
        raise Conflict(errors={GENERAL: [_("Two-factor login is on already.")]})
    if not user.totp_secret or not mark or not hmac.compare_digest(mark, _setup_mark(user.totp_secret)):
        user.totp_secret = pyotp.random_base32()
        db.session.commit()
    return user.totp_secret, _setup_mark(user.totp_secret)


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config.get("TWO_FACTOR_ISSUER", "ObjectWarCampaign"))


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as an ``<svg>`` element, sized to fit a 360 px phone."""
    code = segno.make(uri, error="m", micro=False)
    scale = max(3, 220 // (code.symbol_size(border=4)[0]))
    svg = code.svg_inline(scale=scale, border=4, dark="#1b1b1f", svgclass="qr-code",
                          title=_("QR code of the key for your authenticator app"))
    svg = svg.replace("<svg ", '<svg role="img" ', 1)  # its title is its text alternative
    return Markup(svg)  # noqa: S704 (segno's drawing: paths and the escaped title only)


def enable(user: User, code: str, mark: str | None) -> list[str]:
    """Switch two-factor login on with a code from the app; returns the new recovery codes.

    ``mark``: what this session kept of the set-up it began (:func:`begin_enrolment`).
    Every session of the user ends (the caller starts this one again): they were
    made without the second factor.
    :raise ValidationError: the code is not the app's current one.
    :raise Conflict: it is on already, or this session did not begin the set-up shown.
    """
    if user.has_two_factor:
        raise Conflict(errors={GENERAL: [_("Two-factor login is on already.")]})
    if (not user.totp_secret or not mark
            or not hmac.compare_digest(mark, _setup_mark(user.totp_secret))):
        raise Conflict(errors={GENERAL: [_("Please start the set-up again.")]})
    if not _accept_app_code(user, code):
        db.session.rollback()
        raise ValidationError(errors={"code": [_(
            "This code is not right. Type the newest code your app shows for this site, "
            "and check that the phone's clock is right.")]})
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(user)
    user.session_version = (user.session_version or 0) + 1
    record("user.two_factor_enabled", user, actor_id=user.id)
    db.session.commit()
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def regenerate_recovery_codes(user: User, proof: str, *, client: str = "-") -> list[str]:
    """New recovery codes in place of the old ones (used or not); returns them.

    :raise ValidationError: ``proof`` is neither the password nor a current code.
    :raise Conflict: two-factor login is off.
    """
    if not user.has_two_factor:
        raise Conflict(errors={GENERAL: [_("Two-factor login is off.")]})
    _check_proof(user, proof, client, field="proof")
    codes = _new_recovery_codes(user)
    record("user.recovery_codes_renewed", user, actor_id=user.id)
    db.session.commit()
    return codes


def disable(user: User, proof: str, *, client: str = "-") -> None:
    """Switch two-factor login off.

    :raise ValidationError: ``proof`` is neither the password nor a current code.
    :raise Conflict: it is off, or the user is a coordinator and it is required.
    """
    if not user.has_two_factor:
        raise Conflict(errors={GENERAL: [_("Two-factor login is off.")]})
    if required_for(user):
        raise Conflict(errors={GENERAL: [_("Coordinators must use two-factor login.")]})
    _check_proof(user, proof, client, field="proof")
    _clear(user)
    record("user.two_factor_disabled", user, actor_id=user.id)
    db.session.commit()


def reset_by_coordinator(actor: User, user_id: int) -> User:
    """Remove another coordinator's two-factor login (a lost phone); their sessions end.

    They set it up again at their next login, when it is required.
    :raise NotFound: no such coordinator. :raise Conflict: oneself, or it is off.
    """
    user = get_coordinator(user_id)
    if user.id == actor.id:
        raise Conflict(errors={GENERAL: [_(
            "You cannot reset your own two-factor login here. Use a recovery code, or ask "
            "another coordinator.")]})
    if not user.has_two_factor:
        raise Conflict(errors={GENERAL: [_("This coordinator has not set up two-factor login.")]})
    _clear(user)
    user.session_version = (user.session_version or 0) + 1
    record("coordinator.two_factor_reset", target_type="user", target_id=user.id,
           actor_id=actor.id)
    db.session.commit()
    return user


def reset_by_operator(email: str) -> User:
    """Remove anyone's two-factor login from the server's command line (``flask
    reset-two-factor``): the way back when the only coordinator lost both the phone
    and the recovery codes. Audited with no actor; their sessions end.

    :raise ValidationError: no such user. :raise Conflict: it is off.
    """
    user = db.session.scalar(select(User).where(User.email_digest == security.email_digest(email)))
    if user is None or not user.active:
        raise ValidationError(errors={"email": [_("No active user has this address.")]})
    if not user.has_two_factor:
        raise Conflict(errors={GENERAL: [_("Two-factor login is off.")]})
    _clear(user)
    user.session_version = (user.session_version or 0) + 1
    record("user.two_factor_reset_by_operator", target_type="user", target_id=user.id)
    db.session.commit()
    return user


# -- the second step of the login -------------------------------------------------------------


def pending_user(user_id: object, session_version: object) -> User | None:
    """The user whose password was right, while that still holds (else ``None``).

    A login waiting for its code ends when the user is deactivated, when their
    sessions end (a new password, a reset by a coordinator) or when two-factor
    login is switched off meanwhile.
    """
    if not isinstance(user_id, int) or not isinstance(session_version, int):
        return None
    user = db.session.get(User, user_id)
    if (user is None or not user.active or user.session_version != session_version
            or not user.has_two_factor):
        return None
    return user


def complete_login(user: User, code: str, *, client: str = "-",
                   device: str | None = None) -> int | None:
    """Check the second factor of a login: the app's code or a recovery code.

    Returns ``None`` for the app's code, or how many recovery codes are left after
    using one. Wrong codes count as wrong passwords and are throttled the same way;
    a throttled attempt is refused unheard.
    :raise ValidationError: wrong code, or too many attempts (the message is at ``code``).
    """
    now = utcnow()
    # Every attempt spends the account's budget first, right or wrong: a burst of
    # guesses sent at once cannot all pass a check made before any is counted.
    if (not ratelimit.within_budget(current_app.config.get("TWO_FACTOR_CODE_LIMIT", CODE_LIMIT),
                                    CODE_SCOPE, str(user.id))
            or _throttled(user, now, client, device)):
        raise _too_many("code")
    if _looks_like_app_code(code):
        accepted, left = _accept_app_code(user, code), None
    else:
        accepted = _use_recovery_code(user, code)
        left = recovery_codes_left(user) if accepted else None
    if not accepted:
        db.session.rollback()
        _count_failure(user, now, client)
        raise ValidationError(errors={"code": [_(
            "This code is not right, or it was used already. Type the newest code your app "
            "shows, or an unused recovery code.")]})
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if left is not None:
        record("user.recovery_code_used", user, actor_id=user.id, remaining=left)
    db.session.commit()
    return left


# -- codes --------------------------------------------------------------------------------------


def _normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _looks_like_app_code(code: str) -> bool:
    code = _normalise(code)
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


def _accept_app_code(user: User, code: str) -> bool:
    """Whether ``code`` is the app's code of a time step near now that was not used yet.

    Remembers the step with a conditional UPDATE (two requests with the same code at
    the same moment: one wins); the caller commits.
    """
    if not user.totp_secret or not _looks_like_app_code(code):
        return False
    code = _normalise(code)
    totp = pyotp.TOTP(user.totp_secret)
    now_step = int(clock()) // totp.interval
    matched = None
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    if matched is None or (user.totp_last_step is not None and matched <= user.totp_last_step):
        return False
    changed = db.session.execute(
        update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None),
                                                   User.totp_last_step < matched))
        .values(totp_last_step=matched).execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        return False
    set_committed_value(user, "totp_last_step", matched)
    return True


def _recovery_digest(code: str) -> str:
    return security.keyed_digest("recovery-code:" + _normalise(code))


def _use_recovery_code(user: User, code: str) -> bool:
    """Mark an unused recovery code of the user used (one UPDATE: it works once); the caller commits."""
    if len(_normalise(code)) != RECOVERY_CODE_LENGTH:
        return False
    changed = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                   RecoveryCode.code_digest == _recovery_digest(code),
                                   RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes; returns them, grouped for reading (``abcde-fghjk``)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _number in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _char in range(RECOVERY_CODE_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_digest=_recovery_digest(raw)))
    return codes


def _clear(user: User) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None


def _check_proof(user: User, proof: str, client: str, *, field: str) -> None:
    """The user proves it is them again: the password, or a current code from the app.

    Wrong answers count as wrong passwords (throttled the same way).
    :raise ValidationError: wrong, or too many attempts.
    """
    now = utcnow()
    if _throttled(user, now, client, None):
        security.verify_password(None, proof)
        raise _too_many(field)
    if _looks_like_app_code(proof):  # passwords are 12 characters at least
        accepted = _accept_app_code(user, proof)
    else:
        accepted = security.verify_password(user.password_hash, proof)
    if not accepted:
        db.session.rollback()
        _count_failure(user, now, client)
        raise ValidationError(errors={field: [_(
            "This is neither your password nor a current code from your app.")]})
    user.failed_logins = 0
    user.locked_until = None


def _too_many(field: str) -> ValidationError:
    return ValidationError(errors={field: [
        _("There were too many attempts. Please wait a moment and try again.")]})
