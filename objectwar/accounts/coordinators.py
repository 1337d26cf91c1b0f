"""Coordinators managed by coordinators: invitations, deactivation and reactivation.

The first coordinator comes from ``flask create-coordinator``; the others are
invited with the same signed, single-use link as members. The campaign always
keeps at least one active coordinator: nobody, not even the last one themself,
can deactivate the last.
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from objectwar import security
from objectwar.accounts.models import Invitation, Role, User
from objectwar.accounts.services import invitation_max_age
from objectwar.audit.services import record
from objectwar.errors import GENERAL, Conflict, NotFound, ValidationError
from objectwar.extensions import db
from objectwar.mail import notices as mail_notices
from objectwar.mail.models import Notice, NoticeKind
from objectwar.types import utcnow
from objectwar.validation import collect, merge, validate_email, validate_locale


def coordinators() -> list[User]:
    """Every coordinator, active ones first, then in the order they joined."""
    return list(db.session.scalars(
        select(User).where(User.role == Role.COORDINATOR)
        .order_by(User.active.desc(), User.created_at, User.id)
    ))


def _open_and_current():
    """SQL: an invitation not accepted, not withdrawn and whose link still works."""
    since = utcnow() - timedelta(seconds=invitation_max_age())
    return (Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
            Invitation.created_at > since)


def open_invitations() -> list[Invitation]:
    """Coordinators' invitations whose link still works, oldest first."""
    return list(db.session.scalars(
        select(Invitation).where(Invitation.role == Role.COORDINATOR, *_open_and_current())
        .order_by(Invitation.created_at, Invitation.id)
    ))


def get_coordinator(user_id: int) -> User:
    """:raise NotFound: no coordinator has this id (members' ids included)."""
    user = db.session.get(User, user_id)
    if user is None or user.role != Role.COORDINATOR:
        raise NotFound()
    return user


def invite_coordinator(actor: User, email: str, locale: str) -> Notice:
    """Invite an address to coordinate the campaign and queue the email.

    Coordinators are staff, so unlike a member's invitation this one says why it
    cannot be sent. :raise ValidationError: not an address or no language of ours;
    the address has an account, or an invitation whose link still works.
    """
    errors: list[ValidationError] = []
    address = collect(errors, validate_email, email, "email")
    code = collect(errors, validate_locale, locale, "locale")
    if errors:
        raise merge(errors)
    digest = security.email_digest(address)
    if db.session.scalar(select(User.id).where(User.email_digest == digest)) is not None:
        raise ValidationError(errors={"email": [_(
            "This address belongs to an account already. An inactive coordinator can be "
            "reactivated from the list of coordinators.")]})
    pending = db.session.scalar(select(Invitation.role).where(
        Invitation.email_digest == digest, *_open_and_current()).limit(1))
    if pending == Role.COORDINATOR:
        raise ValidationError(errors={"email": [_(
            "This address has an open invitation already. Withdraw it to send a new one.")]})
    if pending is not None:
        raise ValidationError(errors={"email": [_(
            "This address is invited to join an organisation. An address can have one "
            "account only.")]})
    invitation = Invitation(role=Role.COORDINATOR, organisation_id=None, email_digest=digest,
                            email=address, locale=code, invited_by=actor)
    db.session.add(invitation)
    db.session.flush()
    notice = mail_notices.queue(NoticeKind.INVITATION, invitation.id, address, code)
    record("coordinator.invite", invitation, actor_id=actor.id)
    db.session.commit()
    return notice


def revoke_coordinator_invitation(actor: User, invitation_id: int) -> None:
    """Withdraw a coordinator's invitation: its link stops working.

    :raise NotFound: no open coordinator's invitation has this id.
    """
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.role != Role.COORDINATOR or not invitation.is_open:
        raise NotFound()
    invitation.revoked_at = utcnow()
    record("coordinator.invitation_revoked", invitation, actor_id=actor.id)
    db.session.commit()


def deactivate_coordinator(actor: User, user_id: int) -> User:
    """Deactivate a coordinator: their sessions, API tokens and open invitations of
    coordinators stop working. A coordinator may deactivate themself, unless last.

    Two coordinators deactivating each other at the same moment must not both
    succeed. A conditional UPDATE alone does not ensure that on PostgreSQL: each
    statement would check the other's row in a snapshot where it is still active
    (write skew). So the active coordinators' rows are first locked with
    ``SELECT ... FOR UPDATE`` (in id order, so two deactivations cannot deadlock):
    the second deactivation waits for the first to commit, and its UPDATE, which
    requires another active coordinator, then sees what the first left. SQLite has
    no row locks but one writer at a time, and its single UPDATE reads and writes
    under the write lock.

    :raise NotFound: no such coordinator. :raise Conflict: inactive already, or the
    last active coordinator.
    """
    user = get_coordinator(user_id)
    if not user.active:
        raise Conflict(errors={GENERAL: [_("This coordinator is inactive already.")]})
    db.session.execute(
        select(User.id).where(User.role == Role.COORDINATOR, User.active.is_(True))
        .order_by(User.id).with_for_update()
    ).all()
    other = aliased(User)
    another_active = exists().where(other.role == Role.COORDINATOR, other.active.is_(True),
                                    other.id != user_id)
    changed = db.session.execute(
        update(User)
        .where(User.id == user_id, User.role == Role.COORDINATOR, User.active.is_(True),
               another_active)
        .values(active=False, session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        if not get_coordinator(user_id).active:  # another coordinator was quicker
            raise Conflict(errors={GENERAL: [_("This coordinator is inactive already.")]})
        raise Conflict(errors={GENERAL: [_(
            "This is the last active coordinator. Invite another coordinator first: the "
            "campaign needs at least one.")]})
    withdrawn = db.session.execute(
        update(Invitation)
        .where(Invitation.invited_by_id == user_id, Invitation.role == Role.COORDINATOR,
               Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    record("coordinator.deactivate", target_type="user", target_id=user_id, actor_id=actor.id,
           invitations_withdrawn=withdrawn)
    db.session.commit()
    return get_coordinator(user_id)


def reactivate_coordinator(actor: User, user_id: int) -> User:
    """Let an inactive coordinator log in again with their password.

    :raise NotFound: no such coordinator. :raise Conflict: active already.
    """
    user = get_coordinator(user_id)
    if user.active:
        raise Conflict(errors={GENERAL: [_("This coordinator is active already.")]})
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    user.session_version = (user.session_version or 0) + 1
    record("coordinator.reactivate", user, actor_id=actor.id)
    db.session.commit()
    return user
