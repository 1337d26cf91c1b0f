"""A petition's statistics for coordinators: checked against hand-counted signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from objectwar.accounts.services import create_api_token
from objectwar.extensions import db as _db
from objectwar.petitions import signing, stats
from objectwar.petitions.models import Signature
from objectwar.petitions.services import get_petition
from tests.signing_support import SLUG, person

# Just before and just after midnight UTC: two different days, whatever the server's zone.
LATE = datetime(2026, 11, 20, 23, 59, 30, tzinfo=UTC)
EARLY = datetime(2026, 11, 21, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def signed(app, demo, people):
    """Five signers: DE through org-a (confirmed after midnight), DE and BY confirmed on
    the day they signed, PL and one more DE never confirmed."""
    with app.test_request_context("/"):
        plan = [("de1@example.org", "DE", "org-a", LATE, EARLY),
                ("de2@example.org", "DE", None, LATE, LATE),
                ("by1@example.org", "BY", None, EARLY, EARLY),
                ("pl1@example.org", "PL", None, EARLY, None),
                ("de3@example.org", "DE", "org-a", EARLY, None)]
        for email, country, organisation, created, confirmed in plan:
            outcome = signing.sign(SLUG, person(email=email, country=country,
                                                organisation=organisation), default_locale="en")
            if confirmed is not None:
                signature = _db.session.get(Signature, outcome.signature_id)
                signing.confirm(SLUG, signing.confirmation_token(signature))
            _db.session.execute(update(Signature).where(Signature.id == outcome.signature_id)
                                .values(created_at=created, confirmed_at=confirmed))
            _db.session.commit()
        return create_api_token("coord@campaign.example", "stats")


def test_stats_count_by_utc_day_country_and_partner(app, signed):
    with app.app_context():
        numbers = stats.petition_stats(get_petition(SLUG))
    assert numbers["confirmed"] == 3 and numbers["unconfirmed"] == 2
    assert numbers["confirmation_rate"] == 0.6
    assert numbers["by_day"] == [
        {"date": "2026-11-20", "signed": 2, "confirmed": 1},
        {"date": "2026-11-21", "signed": 3, "confirmed": 2},
    ]
    assert numbers["by_country"] == {"DE": 2, "BY": 1}  # every country, nothing folded
    assert numbers["by_organisation"] == {"org-a": 1}  # confirmed ones only


def test_the_stats_endpoint_is_for_coordinators(app, client, signed, people):
    assert client.get(f"/api/v1/petitions/{SLUG}/stats").status_code == 401
    with app.app_context():
        member_token = create_api_token("alice@a.example", "member")
    answer = client.get(f"/api/v1/petitions/{SLUG}/stats",
                        headers={"Authorization": f"Bearer {member_token}"})
    assert answer.status_code == 403
    answer = client.get(f"/api/v1/petitions/{SLUG}/stats",
                        headers={"Authorization": f"Bearer {signed}"})
    assert answer.status_code == 200
    assert answer.get_json()["by_country"] == {"DE": 2, "BY": 1}
    missing = client.get("/api/v1/petitions/no-such-petition/stats",
                         headers={"Authorization": f"Bearer {signed}"})
    assert missing.status_code == 404 and "errors" in missing.get_json()


def test_a_petition_without_signatures_has_no_rate(app, demo):
    with app.app_context():
        petition = get_petition(SLUG)
        numbers = stats.petition_stats(petition)
    assert numbers["confirmation_rate"] is None and numbers["by_day"] == []
