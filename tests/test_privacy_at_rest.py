"""Personal data is encrypted in the database: the raw rows show no address or name."""

from sqlalchemy import text

from objectwar import security
from objectwar.accounts.models import Role, User
from objectwar.mailing.models import MailingList, Subscriber, Subscription
from objectwar.organisations.models import Organisation
from objectwar.petitions.models import Petition, Signature

SECRETS = ["Wasilij", "Kusnezow", "w.kusnezow@example.org", "Ольга", "olga@пример.рф",
           "Contact Person", "contact@ngo.example"]


def test_raw_rows_hold_no_address_or_name(db):
    petition = Petition(slug="p")
    organisation = Organisation(slug="ngo", name="NGO", country="DE",
                                contact_name="Contact Person", contact_email="contact@ngo.example")
    db.session.add_all([petition, organisation])
    db.session.flush()
    db.session.add(Signature(
        petition_id=petition.id, email="w.kusnezow@example.org",
        email_digest=security.email_digest("w.kusnezow@example.org"),
        first_name="Wasilij", last_name="Kusnezow", country="DE", locale="de", consent_version="v1",
    ))
    subscriber = Subscriber(email="olga@пример.рф", email_digest=security.email_digest("olga@пример.рф"),
                            name="Ольга", locale="ru")
    mailing_list = MailingList(slug="updates", name="Updates")
    db.session.add_all([subscriber, mailing_list])
    db.session.flush()
    db.session.add(Subscription(list_id=mailing_list.id, subscriber_id=subscriber.id, source="test"))
    db.session.add(User(email="contact@ngo.example", email_digest=security.email_digest("contact@ngo.example"),
                        name="Contact Person", role=Role.MEMBER, organisation_id=organisation.id))
    db.session.commit()

    dump = []
    for table in ("signatures", "subscribers", "users", "organisations"):
        for row in db.session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 (fixed names)
            dump.extend(str(value) for value in row)
    raw = "\n".join(dump)
    for secret in SECRETS:
        assert secret not in raw
        assert secret.lower() not in raw.lower()

    # ...while the models read them back.
    db.session.expire_all()
    signature = db.session.query(Signature).one()
    assert (signature.first_name, signature.last_name) == ("Wasilij", "Kusnezow")
    assert db.session.query(Subscriber).one().email == "olga@пример.рф"
