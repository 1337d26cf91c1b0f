"""The privacy domain's emails: links to see or erase what is held about an address."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_mail import Message

from objectwar.mail import message as mailer
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mail.notices import composes
from objectwar.privacy import services as privacy

ACTIONS = {NoticeKind.DATA_EXPORT: privacy.DataAction.EXPORT,
           NoticeKind.DATA_ERASURE: privacy.DataAction.ERASE}


@composes(*ACTIONS)
def data_request(notice: Notice) -> Message:
    """The link of a data request, or the word that nothing is held.

    What is held is looked up now: the email tells the truth when it is sent. The
    same neutral subject for both: a watched mailbox must not show why it came.
    """
    token = privacy.link_for(notice.recipient, ACTIONS[notice.kind])
    return mailer.compose(
        str(notice.kind), to=notice.recipient, locale=notice.locale,
        subject=_l("Your request about your data"),
        link=mailer.external_url("privacy.show", token=token) if token else None,
        hours=privacy.TOKEN_MAX_AGE // 3600,
    )
