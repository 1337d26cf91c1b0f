"""Confirmed signatures by country: exact in the row that counts them, folded for the public."""

from __future__ import annotations

import pytest

from objectwar.extensions import db as _db
from objectwar.petitions import counts, signing
from objectwar.petitions.models import Signature
from objectwar.privacy import services as privacy
from tests.signing_support import SLUG, person


@pytest.fixture
def ctx(app, demo):
    """A request context over the demo campaign."""
    with app.test_request_context("/"):
        yield


def confirmed_signers(country: str, how_many: int, start: int = 0) -> list[str]:
    """Sign and confirm ``how_many`` people from ``country``; returns their addresses."""
    emails = [f"{country.lower()}{start + i}@example.org" for i in range(how_many)]
    for email in emails:
        outcome = signing.sign(SLUG, person(email=email, country=country), default_locale="en")
        signature = _db.session.get(Signature, outcome.signature_id)
        signing.confirm(SLUG, signing.confirmation_token(signature))
    return emails


def test_fold_shows_large_countries_largest_first_and_the_rest_as_other():
    folded = counts.fold([("BY", 2), ("DE", 12), ("AT", 12), ("FR", 30), ("UA", 9)], minimum=10)
    assert list(folded.items()) == [("FR", 30), ("AT", 12), ("DE", 12), ("other", 11)]
    assert counts.fold([("DE", 12)], minimum=10) == {"DE": 12}  # no "other" of nothing
    assert counts.fold([], minimum=10) == {}


def test_milestones_mark_the_quarters_of_the_goal_reached():
    marks = counts.milestones(signature_count=5_000, goal=10_000)
    assert [(m["percent"], m["at"], m["reached"]) for m in marks] == [
        (25, 2_500, True), (50, 5_000, True), (75, 7_500, False), (100, 10_000, False)]
    assert counts.milestones(3, 0) == []


def test_confirmations_count_by_country_and_two_from_belarus_are_never_public(ctx, client):
    confirmed_signers("DE", 10)
    confirmed_signers("BY", 2)
    signing.sign(SLUG, person(email="unconfirmed@example.org", country="PL"), default_locale="en")
    assert counts.by_country(_petition_id()) == [("DE", 10), ("BY", 2)]  # coordinators
    body = client.get(f"/api/v1/petitions/{SLUG}").get_json()
    assert body["signatures"] == 12
    assert body["by_country"] == {"DE": 10, "other": 2}
    page = client.get(f"/petitions/{SLUG}?lang=en").get_data(as_text=True)
    table = page.split('id="countries-heading"', 1)[1].split("</section>", 1)[0]
    assert "Signatures by country" in table and "Other countries" in table
    assert table.index("Germany") < table.index("Other countries")
    assert "Belarus" not in table and ">2<" in table


def test_the_minimum_is_configurable(app, demo, client):
    app.config["PUBLIC_COUNTRY_MINIMUM"] = 2
    with app.test_request_context("/"):
        confirmed_signers("BY", 2)
        confirmed_signers("UA", 1)
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["by_country"] == {
        "BY": 2, "other": 1}


def test_confirming_twice_counts_once_and_an_erasure_takes_the_signer_out(ctx, client):
    emails = confirmed_signers("DE", 10)
    signature = _db.session.scalar(_db.select(Signature).where(
        Signature.email_digest == _digest(emails[0])))
    signing.confirm(SLUG, signing.confirmation_token(signature))  # idempotent
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["by_country"] == {"DE": 10}
    privacy.erase(privacy.link_for(emails[0], privacy.DataAction.ERASE))
    body = client.get(f"/api/v1/petitions/{SLUG}").get_json()
    assert body["signatures"] == 9 and body["by_country"] == {"other": 9}  # 9 < 10: folded
    assert counts.by_country(_petition_id()) == [("DE", 9)]


def _petition_id() -> int:
    from objectwar.petitions.models import Petition

    return _db.session.scalar(_db.select(Petition.id).where(Petition.slug == SLUG))


def _digest(email: str) -> str:
    from objectwar import security

    return security.email_digest(email)


def test_the_confirmed_count_has_one_writer():
    """``signature_count`` moves only in ``counts.move_confirmed``, with the counts by country."""
    import re
    from pathlib import Path

    import objectwar

    root = Path(objectwar.__file__).parent
    writes = re.compile(r"signature_count\s*=(?!=)|[\"']signature_count[\"']\s*(:|\]\s*=)")
    writers = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                     if writes.search(path.read_text()))
    assert writers == ["petitions/counts.py"]
