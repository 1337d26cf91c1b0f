"""Composing and sending the outbox's notices (run by workers, see ``objectwar.tasks``)."""

from __future__ import annotations

import smtplib
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_mail import Message

from objectwar import email, verp
from objectwar.accounts import services as accounts
from objectwar.accounts.models import Invitation, User
from objectwar.extensions import db
from objectwar.mailing import delivery as mail_delivery
from objectwar.mailing import mailouts
from objectwar.mailing.models import Mailout, MailoutStatus
from objectwar.organisations.models import Organisation
from objectwar.outbox import claims, rows
from objectwar.outbox import services as outbox
from objectwar.outbox.models import Notice, NoticeKind
from objectwar.privacy import services as privacy

SUBJECTS = {
    NoticeKind.APPLICATION_RECEIVED: _l("We received your application"),
    NoticeKind.APPLICATION_NOTICE: _l("New application from an organisation"),
    NoticeKind.APPLICATION_REJECTED: _l("About your application"),
    NoticeKind.INVITATION: _l("Your invitation to the #ObjectWarCampaign"),
    NoticeKind.PASSWORD_RESET: _l("Set a new password"),
    # The same neutral subject for both: a watched mailbox must not show why it came.
    NoticeKind.DATA_EXPORT: _l("Your request about your data"),
    NoticeKind.DATA_ERASURE: _l("Your request about your data"),
}

_DATA_ACTIONS = {NoticeKind.DATA_EXPORT: privacy.DataAction.EXPORT,
                 NoticeKind.DATA_ERASURE: privacy.DataAction.ERASE}


def _context(notice: Notice) -> dict[str, Any] | None:
    """What the notice's template needs; ``None`` when there is nothing to send any more."""
    if notice.kind in (NoticeKind.APPLICATION_RECEIVED, NoticeKind.APPLICATION_NOTICE,
                       NoticeKind.APPLICATION_REJECTED):
        organisation = db.session.get(Organisation, notice.target_id)
        if organisation is None:
            return None
        return {"organisation": organisation, "message": notice.message,
                "admin_url": email.external_url("admin.organisation", organisation_id=organisation.id)}
    if notice.kind == NoticeKind.INVITATION:
        invitation = db.session.get(Invitation, notice.target_id)
        if invitation is None or not invitation.is_open:
            return None
        return {"organisation": invitation.organisation, "role": invitation.role,
                "days": accounts.invitation_max_age() // 86400,
                "link": email.external_url("accounts.invitation",
                                           token=accounts.invitation_token(invitation))}
    if notice.kind == NoticeKind.PASSWORD_RESET:
        user = db.session.get(User, notice.target_id)
        if user is None or not user.active:
            return None
        return {"link": email.external_url("accounts.reset", token=accounts.reset_token(user))}
    if notice.kind in _DATA_ACTIONS:
        # What is held is looked up now: the email tells the truth when it is sent.
        token = privacy.link_for(notice.recipient, _DATA_ACTIONS[notice.kind])
        return {"link": email.external_url("privacy.show", token=token) if token else None,
                "hours": privacy.TOKEN_MAX_AGE // 3600}
    if notice.kind in (NoticeKind.MAILOUT_PAUSED, NoticeKind.MAILOUT_REPORTS):
        mailout = db.session.get(Mailout, notice.target_id)
        if mailout is None or mailout.status != MailoutStatus.PAUSED:  # resumed or cancelled since
            return None
        return {"mailout": mailout, "progress": mailouts.progress(mailout),
                "admin_url": email.external_url("admin.mailout", mailout_id=mailout.id)}
    return None


def _subject(notice: Notice) -> Any:
    if notice.kind == NoticeKind.MAILOUT_PAUSED:
        return _l("Mail-out %(id)s paused after %(n)d errors in a row", id=notice.target_id,
                  n=mail_delivery.ERROR_LIMIT)
    if notice.kind == NoticeKind.MAILOUT_REPORTS:
        return _l("Mail-out %(id)s paused: too many bounces or spam complaints",
                  id=notice.target_id)
    return SUBJECTS[notice.kind]


def compose(notice: Notice) -> Message | None:
    """The notice's email, or ``None`` when there is nothing to send any more."""
    if notice.kind == NoticeKind.MAILOUT_TEST:
        return mailouts.message_for_test(notice.target_id, notice.recipient, notice.locale)
    context = _context(notice)
    if context is None:
        return None
    return email.compose(str(notice.kind), to=notice.recipient, locale=notice.locale,
                         subject=_subject(notice), **context)


def deliver(notice_id: int) -> bool:
    """Claim, compose, send and mark one notice; ``True`` if it was sent now.

    A failure leaves it due: the periodic task tries again.
    """
    claimed = outbox.claim(notice_id)
    if claimed is None:
        return False
    notice, token = claimed
    try:
        message = compose(notice)
        if message is None:
            outbox.mark_sent(notice, token, note="skipped: nothing to send any more")
            return False
        if not claims.hold(Notice, notice_id, token):  # taken back: another worker sends it
            return False
        email.send(message, sent_as=verp.Tag(verp.Sent.NOTICE, (notice_id,)))
    except (OSError, smtplib.SMTPException, UnicodeError) as error:
        reason = rows.describe(error)
        current_app.logger.warning("Notice %s not sent: %s", notice_id, reason)
        outbox.mark_failed(notice, token, reason, permanent=rows.is_permanent(error))
        return False
    outbox.mark_sent(notice, token)
    return True


def deliver_due(older_than_seconds: int = 60) -> int:
    """Send every notice due for longer than ``older_than_seconds``; return how many went out."""
    return sum(deliver(notice_id) for notice_id in outbox.due_ids(older_than_seconds))
