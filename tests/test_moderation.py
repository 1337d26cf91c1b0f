"""Moderation: a coordinator hides a public name or deletes a spam signature; audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.petitions import counts, signing
from objectwar.petitions.models import Petition, Signature
from tests.helpers import csrf_token, login_as
from tests.signing_support import SLUG, person


@pytest.fixture
def signers(app, demo, people):
    """A public signer with a vandal's name, a decent public one, and an unconfirmed one."""
    ids = {}
    with app.test_request_context("/"):
        for key, first, confirm in (("vandal", "Vandalo", True), ("anna", "Annika", True),
                                    ("pending", "Pending", False)):
            outcome = signing.sign(SLUG, person(email=f"{key}@example.org", first_name=first,
                                                public_name=True), default_locale="en")
            if confirm:
                signature = _db.session.get(Signature, outcome.signature_id)
                signing.confirm(SLUG, signing.confirmation_token(signature))
            ids[key] = outcome.signature_id
    return ids


def public_page(client) -> str:
    return client.get(f"/petitions/{SLUG}?lang=en").get_data(as_text=True)


def petition(app) -> Petition:
    with app.app_context():
        return _db.session.scalar(select(Petition).where(Petition.slug == SLUG))


def moderate(client, signature_id: int, action: str):
    path = f"/admin/petitions/{SLUG}/signers/{signature_id}/{action}"
    page = client.get(path)
    assert page.status_code == 200  # the confirmation page changes nothing
    return client.post(path, data={"csrf_token": csrf_token(client, path)})


def test_a_hidden_name_leaves_the_public_page_at_once_and_still_counts(app, client, signers, people, auth):
    assert "Vandalo M." in public_page(client)  # cached by this process from now on
    auth.coordinator()
    assert "Vandalo Müller" in client.get(f"/admin/petitions/{SLUG}/signers").get_data(as_text=True)
    assert moderate(client, signers["vandal"], "hide").status_code == 302
    anonymous = app.test_client()
    page = public_page(anonymous)
    assert "Vandalo" not in page and "Annika M." in page
    assert petition(app).signature_count == 2
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signature.hide"))
        assert event.target_id == signers["vandal"] and event.actor_id == people.coordinator
        assert "Vandalo" not in str(event.details)


def test_deleting_spam_adjusts_the_count_and_the_country_in_one_go(app, client, signers, people, auth):
    auth.coordinator()
    moderate(client, signers["vandal"], "delete")
    moderate(client, signers["pending"], "delete")  # unconfirmed: the count stays
    assert petition(app).signature_count == 1
    with app.app_context():
        assert _db.session.get(Signature, signers["vandal"]) is None
        assert counts.by_country(petition(app).id) == [("DE", 1)]
        actions = _db.session.scalars(select(AuditEvent.details).where(
            AuditEvent.action == "signature.delete")).all()
        assert sorted(details["confirmed"] for details in actions) == [False, True]
    assert "Vandalo" not in public_page(app.test_client())


def test_unknown_signatures_and_other_roles(app, client, signers, people, auth):
    auth.coordinator()
    assert client.get(f"/admin/petitions/{SLUG}/signers/999999/hide").status_code == 404
    member = app.test_client()
    login_as(member, app, people.member_a)
    assert member.get(f"/admin/petitions/{SLUG}/signers").status_code == 403


def test_the_handover_page_names_only_who_chose_to_be_named(app, client, demo, people, auth):
    with app.test_request_context("/"):
        for key, first, public in (("named", "Namedperson", True), ("quiet", "Quietperson", False)):
            outcome = signing.sign(SLUG, person(email=f"{key}@example.org", first_name=first,
                                                public_name=public), default_locale="en")
            signature = _db.session.get(Signature, outcome.signature_id)
            signing.confirm(SLUG, signing.confirmation_token(signature))
    auth.coordinator()
    page = client.get(f"/admin/petitions/{SLUG}/handover").get_data(as_text=True)
    assert "Namedperson Müller" in page and "Quietperson" not in page
    assert "2 people signed and confirmed this petition." in page
    assert "Other countries" in page  # two from Germany: fewer than 10, folded
    with app.app_context():
        assert _db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "petition.handover_page")) is not None
