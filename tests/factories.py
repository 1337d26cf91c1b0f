"""Test data: member organisations and their users, coordinators, mailing lists, subscribers, mail-outs.

Every builder runs inside an app context and flushes, so the caller has the ids;
the caller commits (``make_list`` commits itself, as its tests expect).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from objectwar import security
from objectwar.extensions import db
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from objectwar.mailouts import editing

MEMBER_PASSWORD = "a long and rare passphrase"
COORDINATOR_PASSWORD = "coordinator passphrase 2026"
COORDINATOR_EMAIL = "coord@campaign.example"
SECOND_COORDINATOR_EMAIL = "second@campaign.example"
SECOND_COORDINATOR_PASSWORD = "second coordinator passphrase"


# -- organisations and accounts -------------------------------------------------------


@dataclass
class People:
    """Ids of two member organisations, their users and a coordinator (see ``people``)."""

    org_a: int
    org_b: int
    member_a: int
    colleague_a: int
    member_b: int
    invitation_b: int
    coordinator: int


def add_member_organisation(slug: str, name: str, country: str = "DE"):
    from objectwar.organisations.models import Organisation, OrganisationStatus

    organisation = Organisation(slug=slug, name=name, country=country, city="Berlin",
                                website=f"https://{slug}.example", description=f"About {name}.",
                                contact_name="Contact", contact_email=f"contact@{slug}.example",
                                status=OrganisationStatus.MEMBER)
    db.session.add(organisation)
    db.session.flush()
    return organisation


def add_member_user(organisation, email: str, password: str = MEMBER_PASSWORD):
    from objectwar.accounts.models import Role, User

    user = User(email_digest=security.email_digest(email), email=email, role=Role.MEMBER,
                organisation_id=organisation.id, password_hash=security.hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user


def add_coordinator(email: str = COORDINATOR_EMAIL, password: str = COORDINATOR_PASSWORD):
    """The coordinator with that address, created as ``flask create-coordinator`` does if missing."""
    from objectwar.accounts.services import create_coordinator, find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        user, _created = create_coordinator(email, password)
    return user


def make_people() -> People:
    """Organisations A and B (members), A's two users, B's user and open invitation, a coordinator.

    Needs a request context: creating a coordinator writes the audit log.
    """
    from objectwar.accounts.models import Invitation
    from objectwar.accounts.services import create_coordinator

    org_a = add_member_organisation("org-a", "Organisation A", "DE")
    org_b = add_member_organisation("org-b", "Organisation B", "FR")
    member_a = add_member_user(org_a, "alice@a.example")
    colleague_a = add_member_user(org_a, "anna@a.example")
    member_b = add_member_user(org_b, "bob@b.example")
    invitation_b = Invitation(organisation_id=org_b.id, email_digest="0" * 64,
                              email="new@b.example", locale="en")
    db.session.add(invitation_b)
    db.session.commit()
    coordinator, _created = create_coordinator(COORDINATOR_EMAIL, COORDINATOR_PASSWORD)
    return People(org_a.id, org_b.id, member_a.id, colleague_a.id, member_b.id,
                  invitation_b.id, coordinator.id)


# -- mailing lists and subscribers ------------------------------------------------------


def address(index: int) -> str:
    return f"person{index:05d}@example.org"


def make_list(count: int, *, slug: str = "updates", locale: str = "en", country: str = "DE",
              name: Callable[[int], str | None] = lambda i: f"Person {i}",
              status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED) -> MailingList:
    """A list with ``count`` subscribers (inside an app context); commits."""
    mailing_list = MailingList(slug=slug, name=f"List {slug}", public=True)
    db.session.add(mailing_list)
    db.session.flush()
    add_subscribers(mailing_list, range(count), locale=locale, country=country, name=name, status=status)
    db.session.commit()
    return mailing_list


def add_subscribers(mailing_list: MailingList, indexes, *, locale: str = "en", country: str = "DE",
                    name: Callable[[int], str | None] = lambda i: f"Person {i}",
                    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED) -> list[Subscriber]:
    people = []
    for index in indexes:
        subscriber = Subscriber(email_digest=security.email_digest(address(index)),
                                email=address(index), name=name(index), locale=locale,
                                country=country)
        people.append(subscriber)
    db.session.add_all(people)
    db.session.flush()
    db.session.add_all([
        Subscription(list_id=mailing_list.id, subscriber_id=person.id, status=status, source="test")
        for person in people
    ])
    db.session.flush()
    return people


def new_mailout(app, **data) -> int:
    """A draft mail-out to the updates list in English and German (``data`` overrides); its id."""
    fields = {"list": "updates", "subject": "News of the campaign",
              "body_markdown": "Hello {{ name }},\n\n**Thank you.**",
              "translations": {"de": {"subject": "Neuigkeiten", "body_markdown": "Hallo {{ name }}"}}}
    fields.update(data)
    with app.app_context():
        return editing.create_mailout(fields).id
