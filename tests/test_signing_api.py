"""``POST /api/v1/petitions/<slug>/signatures``: the same rules as the form, JSON answers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from objectwar.extensions import db as _db
from objectwar.petitions.models import Signature
from tests.signing_support import API_URL, person

ACCEPTED = {"status": "pending_confirmation", "notices": []}


def count_rows(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.count()).select_from(Signature))


def test_sign_answers_202_and_sends_a_confirmation(app, client, demo, outbox):
    response = client.post(API_URL, json=person())
    assert response.status_code == 202
    assert response.get_json() == ACCEPTED
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert count_rows(app) == 1
    assert len(outbox) == 1
    assert "Set-Cookie" not in response.headers


def test_repeat_signer_gets_the_identical_answer(app, client, demo, outbox):
    first = client.post(API_URL, json=person())
    again = client.post(API_URL, json=person(email="ANNA@EXAMPLE.ORG "))
    assert (again.status_code, again.get_data()) == (first.status_code, first.get_data())
    assert count_rows(app) == 1


def test_risky_provider_notice(client, demo):
    data = client.post(API_URL, json=person(email="anna@bk.ru")).get_json()
    assert data["status"] == "pending_confirmation"
    assert len(data["notices"]) == 1
    assert "another provider" in data["notices"][0]


def test_locale_and_organisation(app, client, demo, outbox):
    response = client.post(API_URL + "?lang=be", json=person(locale=None, organisation="ebco"))
    assert response.status_code == 202
    with app.app_context():
        row = _db.session.scalar(select(Signature))
        assert row.locale == "be"
        assert row.organisation.slug == "ebco"
    assert "Абарона" in outbox[0].body


@pytest.mark.parametrize("changes, field, message", [
    ({"first_name": ""}, "first_name", "This field is required."),
    ({"first_name": None}, "first_name", "This field is required."),
    ({"first_name": "A\rB"}, "first_name", "Remove the control characters from this field."),
    ({"last_name": "x" * 101}, "last_name", "Use at most 100 characters."),
    ({"last_name": "\u202dX"}, "last_name", "Remove the control characters from this field."),
    ({"email": "no-at-sign"}, "email", "This does not look like an email address."),
    ({"email": 5}, "email", "This field must be text."),
    ({"country": "Germany"}, "country", "Choose a country from the list."),
    ({"country": ["DE"]}, "country", "This field must be text."),
    ({"consent": False}, "consent", "Please agree to how we use your data; we cannot count your signature without it."),
    ({"consent": "yes"}, "consent", "This field must be true or false."),
    ({"updates": "no"}, "updates", "This field must be true or false."),
    ({"public_name": 0}, "public_name", "This field must be true or false."),
    ({"locale": "es"}, "locale", "Choose one of the languages offered."),
    ({"organisation": "nobody"}, "organisation", "This organisation is not a member of the campaign."),
    ({"organisation": {"slug": "ebco"}}, "organisation", "This field must be text."),
    # As the OpenAPI document says: lengths as sent, codes as listed.
    ({"first_name": "Anna" + " " * 97}, "first_name", "Use at most 100 characters."),
    ({"country": "de"}, "country", "Choose a country from the list."),
    ({"locale": ""}, "locale", "Choose one of the languages offered."),
])
def test_field_errors(app, client, demo, outbox, changes, field, message):
    response = client.post(API_URL, json=person(**changes))
    assert response.status_code == 422
    assert response.get_json() == {"errors": {field: [message]}}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert count_rows(app) == 0
    assert outbox == []


@pytest.mark.parametrize("body, content_type", [
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"text"', "application/json"),
    (b"null", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"", None),
])
def test_malformed_bodies_are_422_with_errors(app, client, demo, body, content_type):
    kwargs = {"data": body}
    if content_type:
        kwargs["content_type"] = content_type
    response = client.post(API_URL, **kwargs)
    assert response.status_code == 422
    assert response.get_json() == {"errors": {"request": [
        "Send a JSON object with the signature's fields."]}}
    assert count_rows(app) == 0


def test_empty_object_lists_every_required_field(client, demo):
    response = client.post(API_URL, json={})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"first_name", "last_name", "email", "country",
                                                  "consent"}


def test_unknown_petition_is_404(client, demo):
    response = client.post("/api/v1/petitions/nope/signatures", json=person())
    assert response.status_code == 404
    assert response.get_json()["errors"]


def test_cors_preflight(client, demo):
    response = client.options(API_URL, headers={
        "Origin": "https://partner.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


def test_get_is_not_allowed(client, demo):
    response = client.get(API_URL)
    assert response.status_code == 405
    assert "errors" in response.get_json()


def test_count_in_api_moves_only_on_confirmation(client, demo, outbox):
    import re

    client.post(API_URL, json=person())
    detail = "/api/v1/petitions/protect-objectors"
    assert client.get(detail).get_json()["signatures"] == 0
    path = re.search(r"https://objectwar\.test(/\S+/confirm/\S+)", outbox[0].body).group(1)
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(path, data={"csrf_token": token})
    assert client.get(detail).get_json()["signatures"] == 1


@pytest.mark.parametrize("path", ["/api/v1/petitions", "/api/v1/petitions/protect-objectors"])
def test_an_unknown_lang_is_refused_not_ignored(client, demo, path):
    """``?lang=`` is an enum in the OpenAPI document: the probe found ``?lang=AAA`` answered 200."""
    for value in ("AAA", "", "DE"):
        answer = client.get(f"{path}?lang={value}")
        assert answer.status_code == 422
        assert list(answer.get_json()["errors"]) == ["lang"]
    assert client.get(f"{path}?lang=de").status_code == 200


def test_signing_refuses_an_unknown_lang_too(app, client, demo, outbox):
    answer = client.post(API_URL + "?lang=xx", json=person())
    assert answer.status_code == 422 and list(answer.get_json()["errors"]) == ["lang"]
    assert count_rows(app) == 0 and outbox == []
