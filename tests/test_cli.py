"""Commands of CONTRACT.md."""

from sqlalchemy import func, select

from objectwar import security
from objectwar.accounts.models import ApiToken, Role, User
from objectwar.mailing.models import MailingList
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions.models import DemandText, Petition, PetitionText


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_seed_demo_creates_the_campaign_once(runner, db):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    petition = db.session.scalar(select(Petition))
    assert petition.slug == "protect-objectors"
    assert {t.locale for t in petition.texts} == {"en", "de", "ru", "uk", "be"}
    assert len(petition.demands) == 4
    for demand in petition.demands:
        assert {t.locale for t in demand.texts} == {"en", "de", "ru", "uk", "be"}
    updates = db.session.scalar(select(MailingList).where(MailingList.slug == "updates"))
    assert updates.public
    members = db.session.scalars(select(Organisation)).all()
    assert len(members) == 5
    assert {o.status for o in members} == {OrganisationStatus.MEMBER}
    assert len({o.country for o in members}) >= 4
    counts = [_count(db, m) for m in (Petition, PetitionText, DemandText, MailingList, Organisation)]

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert "0 petitions created" in again.output
    assert [_count(db, m) for m in (Petition, PetitionText, DemandText, MailingList, Organisation)] == counts


def test_create_coordinator_reads_password_from_stdin(runner, db):
    result = runner.invoke(args=["create-coordinator", "Coordinator@Example.org"],
                           input="a good long password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert user.role == Role.COORDINATOR
    assert user.email == "Coordinator@example.org"
    assert security.verify_password(user.password_hash, "a good long password")

    # Again: re-activates and sets the new password; no second user.
    user.active = False
    db.session.commit()
    result = runner.invoke(args=["create-coordinator", "coordinator@example.org"],
                           input="another long password\n")
    assert result.exit_code == 0, result.output
    assert "re-activated" in result.output
    db.session.expire_all()
    assert _count(db, User) == 1
    user = db.session.scalar(select(User))
    assert user.active
    assert security.verify_password(user.password_hash, "another long password")


def test_create_coordinator_refuses_bad_input(runner, db):
    short = runner.invoke(args=["create-coordinator", "c@example.org"], input="short\n")
    assert short.exit_code == 1
    assert "at least 12" in short.output
    bad = runner.invoke(args=["create-coordinator", "not-an-address"], input="long enough password\n")
    assert bad.exit_code == 1
    assert "email" in bad.output
    assert _count(db, User) == 0


def test_create_token_prints_once_and_stores_hash(runner, db, client, demo):
    runner.invoke(args=["create-coordinator", "c@example.org"], input="a good long password\n")
    result = runner.invoke(args=["create-token", "c@example.org", "--name", "import script"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    stored = db.session.scalar(select(ApiToken))
    assert stored.name == "import script"
    assert stored.token_hash == security.hash_token(token)
    assert token not in str(stored.token_hash)

    from objectwar.accounts.services import user_for_api_token

    assert user_for_api_token(token).email == "c@example.org"
    assert user_for_api_token(token + "x") is None


def test_create_token_for_unknown_user(runner, db):
    result = runner.invoke(args=["create-token", "nobody@example.org", "--name", "x"])
    assert result.exit_code == 1
    assert _count(db, ApiToken) == 0
