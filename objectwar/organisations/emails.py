"""The organisations domain's emails about an application to join (composed when sent)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_mail import Message

from objectwar.extensions import db
from objectwar.mail import message as mailer
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mail.notices import composes
from objectwar.organisations.models import Organisation

SUBJECTS = {
    NoticeKind.APPLICATION_RECEIVED: _l("We received your application"),  # to the applicant
    NoticeKind.APPLICATION_NOTICE: _l("New application from an organisation"),  # to each coordinator
    NoticeKind.APPLICATION_REJECTED: _l("About your application"),  # to the applicant, with the message
}


@composes(*SUBJECTS)
def application(notice: Notice) -> Message | None:
    """One of the application's emails, while the organisation exists."""
    organisation = db.session.get(Organisation, notice.target_id)
    if organisation is None:
        return None
    return mailer.compose(
        str(notice.kind), to=notice.recipient, locale=notice.locale, subject=SUBJECTS[notice.kind],
        organisation=organisation, message=notice.message,
        admin_url=mailer.external_url("admin.organisation", organisation_id=organisation.id),
    )
