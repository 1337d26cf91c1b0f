"""Partners: a separate, unticked box lets a signer agree that the crediting organisation
may contact them; the partner sees its figures and exports only those who agreed."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.petitions import signing
from objectwar.petitions.models import Signature
from tests.signing_support import SLUG, hidden_fields, person


@pytest.fixture
def app_overrides() -> dict:
    return {"SIGN_MIN_FILL_SECONDS": 0}  # the test posts the form at once


def sign_and_confirm(app, **changes) -> int:
    with app.test_request_context("/"):
        outcome = signing.sign(SLUG, person(**changes), default_locale="en")
        signature = _db.session.get(Signature, outcome.signature_id)
        signing.confirm(SLUG, signing.confirmation_token(signature))
        return outcome.signature_id


def test_the_box_shows_only_through_a_partner_and_is_never_ticked(app, client, demo, people):
    plain = client.get(f"/petitions/{SLUG}?lang=en").get_data(as_text=True)
    assert 'name="partner_consent"' not in plain
    through = client.get(f"/petitions/{SLUG}?lang=en&org=org-a").get_data(as_text=True)
    box = through.split('name="partner_consent"', 1)[1].split(">", 1)[0]
    assert "checked" not in box
    assert "Organisation A may contact me about its work." in through


def test_the_form_records_the_choice_with_the_version_of_its_wording(app, client, demo, people):
    page = client.get(f"/petitions/{SLUG}?lang=en&org=org-a").get_data(as_text=True)
    form = {**hidden_fields(page), **person(email="yes@example.org"), "consent": "y",
            "partner_consent": "y", "organisation": "org-a"}
    assert client.post(f"/petitions/{SLUG}/sign", data=form).status_code == 302
    with app.app_context():
        row = _db.session.scalar(select(Signature))
        assert row.partner_consent is True
        assert row.partner_consent_version == signing.PARTNER_CONSENT_VERSION


@pytest.mark.parametrize("organisation, asked, recorded", [
    ("org-a", True, True), ("org-a", False, False), (None, True, False)])
def test_the_api_takes_partner_consent_only_with_an_organisation(app, demo, people,
                                                                 organisation, asked, recorded):
    signature_id = sign_and_confirm(app, organisation=organisation, partner_consent=asked)
    with app.app_context():
        assert _db.session.get(Signature, signature_id).partner_consent is recorded


def test_the_partner_exports_only_who_agreed_and_sees_countries_folded(app, client, demo, people, auth):
    sign_and_confirm(app, email="agree@example.org", first_name="Agnes", organisation="org-a",
                     partner_consent=True)
    sign_and_confirm(app, email="no@example.org", first_name="Nora", organisation="org-a",
                     country="BY")
    sign_and_confirm(app, email="other@example.org", first_name="Otto", organisation="org-b",
                     partner_consent=True)
    auth.member(people.org_a)
    overview = client.get("/my/organisation").get_data(as_text=True)
    table = overview.split('class="by-country"', 1)[1].split("</table>", 1)[0]
    assert "Belarus" not in table and "Other countries" in table  # 1 + 1: folded
    assert f"/my/organisation/petitions/{SLUG}/days.svg" in overview
    chart = client.get(f"/my/organisation/petitions/{SLUG}/days.svg")
    assert chart.mimetype == "image/svg+xml" and "<script" not in chart.get_data(as_text=True)
    answer = client.get("/my/organisation/signatures.csv")
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows[0] == ["first_name", "last_name", "email", "country", "confirmed_at"]
    assert [row[:3] for row in rows[1:]] == [["Agnes", "Müller", "agree@example.org"]]
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "organisation.signatures_export"))
        assert event.actor_id == people.member_a and event.details == {"rows": 1}
