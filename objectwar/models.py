"""Every domain's models, imported in one place so that Alembic sees them all."""

from objectwar.accounts.models import ApiToken, Invitation, RecoveryCode, Role, User
from objectwar.audit.models import AuditEvent
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Mailout,
    MailoutStatus,
    MailoutText,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions.models import (
    Demand,
    DemandText,
    Petition,
    PetitionStatus,
    PetitionText,
    Signature,
)
from objectwar.petitions.state import attach_ddl

# The trigger announcing petition state changes, for schemas made by create_all.
attach_ddl(Petition.__table__)

__all__ = [
    "ApiToken", "AuditEvent", "Delivery", "DeliveryStatus", "Demand", "DemandText",
    "MailingList", "Mailout", "MailoutStatus", "MailoutText", "Organisation",
    "OrganisationStatus", "Petition", "PetitionStatus", "PetitionText", "Role", "Signature",
    "Subscriber", "Subscription", "SubscriptionStatus", "User",
]
# Organisations and accounts.
__all__ += ["Invitation", "Notice", "NoticeKind"]
# Two-factor login.
__all__ += ["RecoveryCode"]
