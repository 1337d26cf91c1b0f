"""The mail-outs' notices to coordinators: a mail-out that paused itself, a test."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_mail import Message

from objectwar.extensions import db
from objectwar.mail import message as mailer
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mail.notices import composes
from objectwar.mailing.models import Mailout, MailoutStatus
from objectwar.mailouts import compose, send
from objectwar.mailouts import status as mailout_status


@composes(NoticeKind.MAILOUT_PAUSED, NoticeKind.MAILOUT_REPORTS)
def mailout_paused(notice: Notice) -> Message | None:
    """Tell the mail-out's coordinator why it paused, while it is still paused."""
    mailout = db.session.get(Mailout, notice.target_id)
    if mailout is None or mailout.status != MailoutStatus.PAUSED:  # resumed or cancelled since
        return None
    if notice.kind == NoticeKind.MAILOUT_PAUSED:
        subject = _l("Mail-out %(id)s paused after %(n)d errors in a row", id=notice.target_id,
                     n=send.ERROR_LIMIT)
    else:
        subject = _l("Mail-out %(id)s paused: too many bounces or spam complaints", id=notice.target_id)
    return mailer.compose(str(notice.kind), to=notice.recipient, locale=notice.locale, subject=subject,
                          mailout=mailout, progress=mailout_status.progress(mailout),
                          admin_url=mailer.external_url("admin.mailout", mailout_id=mailout.id))


@composes(NoticeKind.MAILOUT_TEST)
def mailout_test(notice: Notice) -> Message | None:
    """A mail-out's message in one language, to the coordinator who asked for it."""
    return compose.message_for_test(notice.target_id, notice.recipient, notice.locale)
