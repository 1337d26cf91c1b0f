"""Petitions written by coordinators through the API: the rules, the status machine, the clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from objectwar.accounts.services import create_api_token
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.petitions import authoring
from objectwar.petitions.models import Petition, PetitionStatus
from objectwar.types import utcnow


@pytest.fixture
def token(app, people):
    with app.app_context():
        return create_api_token("coord@campaign.example", "authoring")


def body(**changes) -> dict:
    data = {
        "slug": "shelter-now", "goal": 5000, "default_locale": "en", "status": "draft",
        "texts": {"en": {"title": "Shelter now", "summary": "Protect those who refuse.",
                         "body_markdown": "**Now.**"},
                  "de": {"title": "Schutz jetzt", "summary": "", "body_markdown": ""}},
        "demands": [{"texts": {"en": {"title": "Humanitarian visas", "text": "Open the way."},
                               "de": {"title": "Humanitäre Visa", "text": ""}}},
                    {"texts": {"en": {"title": "No pushbacks", "text": ""}}}],
    }
    data.update(changes)
    return data


def post(client, token, data):
    return client.post("/api/v1/petitions", json=data, headers={"Authorization": f"Bearer {token}"})


def patch(client, token, slug, data):
    return client.patch(f"/api/v1/petitions/{slug}", json=data,
                        headers={"Authorization": f"Bearer {token}"})


def petitions_stored(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.count()).select_from(Petition))


def test_a_coordinator_creates_a_draft_then_opens_and_closes_it(app, client, token):
    created = post(client, token, body())
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "draft"
    assert client.get("/api/v1/petitions/shelter-now").status_code == 404  # drafts are not public
    opened = patch(client, token, "shelter-now", {"status": "open", "goal": 6000})
    assert opened.status_code == 200 and opened.get_json()["goal"] == 6000
    public = client.get("/api/v1/petitions/shelter-now?lang=de").get_json()
    assert public["title"] == "Schutz jetzt"
    assert [d["title"] for d in public["demands"]] == ["Humanitäre Visa", "No pushbacks"]
    assert patch(client, token, "shelter-now", {"status": "closed"}).status_code == 200
    assert patch(client, token, "shelter-now", {"status": "open"}).status_code == 200
    wrong = patch(client, token, "shelter-now", {"status": "draft"})
    assert wrong.status_code == 422 and "status" in wrong.get_json()["errors"]
    with app.app_context():
        moves = _db.session.scalars(select(AuditEvent.details).where(
            AuditEvent.action == "petition.status").order_by(AuditEvent.id)).all()
    assert [(m["before"], m["after"]) for m in moves] == [
        ("draft", "open"), ("open", "closed"), ("closed", "open")]


@pytest.mark.parametrize("changes, field", [
    ({"texts": {"de": {"title": "Nur Deutsch"}}}, "texts.en.title"),
    ({"slug": "Bad Slug!"}, "slug"),
    ({"texts": {"xx": {"title": "?"}, "en": {"title": "T"}}}, "texts.xx"),
    ({"opens_at": "2026-12-10T00:00:00Z", "closes_at": "2026-12-01T00:00:00Z"}, "closes_at"),
    ({"goal": 0}, "goal"),
    ({"status": "closed"}, "status"),
    ({"demands": [{"texts": {"de": {"title": "Nur Deutsch"}}}]}, "demands.0.texts.en.title"),
    ({"opens_at": "next tuesday"}, "opens_at"),
    # Values of another JSON type answered 500 before (the API's fuzz found them).
    ({"status": {}}, "status"),
    ({"texts": {"en": {"title": 5}}}, "texts.en.title"),
    ({"texts": {"en": {"title": "T", "summary": [1]}}}, "texts.en.summary"),
    ({"default_locale": ["en"]}, "default_locale"),
    ({"demands": [{"texts": {"en": {"title": "T", "text": {"x": 1}}}}]}, "demands.0.texts.en.text"),
    # What the OpenAPI document forbids is refused, not quietly taken for something else.
    ({"default_locale": None}, "default_locale"),
    ({"texts": {"EN": {"title": "T"}}}, "texts.EN"),
    ({"opens_at": ""}, "opens_at"),
    ({"texts": {"en": {"title": "T" + " " * 300}}}, "texts.en.title"),
])
def test_bad_input_is_refused_at_its_field_and_stores_nothing(app, client, token, changes, field):
    answer = post(client, token, body(**changes))
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"], answer.get_json()
    assert petitions_stored(app) == 0


def test_a_taken_slug_and_a_published_address_cannot_move(app, client, token):
    assert post(client, token, body(status="open")).status_code == 201
    again = post(client, token, body())
    assert again.status_code == 422 and "slug" in again.get_json()["errors"]
    moved = patch(client, token, "shelter-now", {"slug": "elsewhere"})
    assert moved.status_code == 422 and "slug" in moved.get_json()["errors"]
    assert client.get("/api/v1/petitions/shelter-now").status_code == 200


def test_the_clock_opens_and_closes_petitions(app, client, token):
    now = utcnow()
    soon = (now + timedelta(hours=1)).isoformat()
    later = (now + timedelta(hours=2)).isoformat()
    assert post(client, token, body(opens_at=soon, closes_at=later)).status_code == 201
    with app.app_context():
        assert authoring.open_and_close_due(now) == {"opened": [], "closed": []}
        petition_id = _db.session.scalar(select(Petition.id))
        assert authoring.open_and_close_due(now + timedelta(hours=1, seconds=1)) == {
            "opened": [petition_id], "closed": []}
        assert authoring.open_and_close_due(now + timedelta(hours=2, seconds=1)) == {
            "opened": [], "closed": [petition_id]}
        assert _db.session.get(Petition, petition_id).status == PetitionStatus.CLOSED
        assert authoring.open_and_close_due(now + timedelta(hours=3)) == {"opened": [], "closed": []}


def test_only_coordinators_write_petitions(app, client, token, people):
    assert client.post("/api/v1/petitions", json=body()).status_code == 401
    with app.app_context():
        member = create_api_token("alice@a.example", "member")
    assert post(client, member, body()).status_code == 403
    assert petitions_stored(app) == 0


def test_the_public_page_renders_markdown_safely_and_says_when_a_language_is_missing(
        app, client, token):
    data = body(status="open", texts={"en": {
        "title": "Shelter now", "summary": "",
        "body_markdown": "**Now.** <script>alert(1)</script> [More](https://example.org)"}},
        demands=[{"texts": {"en": {"title": "Visas", "text": ""}}}])
    assert post(client, token, data).status_code == 201
    page = client.get("/petitions/shelter-now?lang=de").get_data(as_text=True)
    assert "<strong>Now.</strong>" in page and "<script>alert" not in page
    assert 'href="https://example.org"' in page
    assert "noch nicht in Ihre Sprache übersetzt" in page  # the visitor asked for German
    english = client.get("/petitions/shelter-now?lang=en").get_data(as_text=True)
    assert "not translated into your language" not in english
