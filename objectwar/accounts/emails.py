"""The accounts domain's emails: invitations and password resets (composed when sent)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_mail import Message

from objectwar.accounts import services as accounts
from objectwar.accounts.models import Invitation, User
from objectwar.extensions import db
from objectwar.mail import message as mailer
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mail.notices import composes


@composes(NoticeKind.INVITATION)
def invitation(notice: Notice) -> Message | None:
    """The invitation's link, while it is open."""
    found = db.session.get(Invitation, notice.target_id)
    if found is None or not found.is_open:
        return None
    return mailer.compose(
        "invitation", to=notice.recipient, locale=notice.locale,
        subject=_l("Your invitation to the #ObjectWarCampaign"),
        organisation=found.organisation, role=found.role,
        days=accounts.invitation_max_age() // 86400,
        link=mailer.external_url("accounts.invitation", token=accounts.invitation_token(found)),
    )


@composes(NoticeKind.PASSWORD_RESET)
def password_reset(notice: Notice) -> Message | None:
    """A link to set a new password, while the account is active."""
    user = db.session.get(User, notice.target_id)
    if user is None or not user.active:
        return None
    return mailer.compose("password_reset", to=notice.recipient, locale=notice.locale,
                          subject=_l("Set a new password"),
                          link=mailer.external_url("accounts.reset", token=accounts.reset_token(user)))
