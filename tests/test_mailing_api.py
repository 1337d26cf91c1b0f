"""Unsubscribe pages, the coordinator API of lists and mail-outs, import and export."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from objectwar import csvstream, security
from objectwar.accounts.models import Role, User
from objectwar.accounts.services import create_api_token
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.mailing import subscribers, unsubscribe
from objectwar.mailing.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from tests.factories import add_subscribers, address, make_list


def _user(email: str, role: Role) -> str:
    _db.session.add(User(email_digest=security.email_digest(email), email=email, role=role))
    _db.session.commit()
    return create_api_token(email, "tests")


@pytest.fixture
def tokens(app):
    """API tokens of a coordinator and of a member, and a list ``updates`` of 3."""
    with app.app_context():
        make_list(3)
        return {"coordinator": _user("coord@objectwar.test", Role.COORDINATOR),
                "member": _user("member@objectwar.test", Role.MEMBER)}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def subscription_token(app, index: int = 0) -> tuple[str, int]:
    with app.app_context():
        subscription = _db.session.scalar(select(Subscription).order_by(Subscription.id).offset(index).limit(1))
        return unsubscribe.unsubscribe_token(subscription.subscriber_id, subscription.list_id), subscription.id


def subscription_status(app, subscription_id: int) -> SubscriptionStatus:
    with app.app_context():
        return _db.session.get(Subscription, subscription_id).status


# -- unsubscribe -------------------------------------------------------------------


def test_unsubscribe_page_asks_first_then_the_form_unsubscribes(app, client, tokens):
    token, subscription_id = subscription_token(app)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<button" in html and "<script" not in html and "style=" not in html
    assert subscription_status(app, subscription_id) == SubscriptionStatus.SUBSCRIBED  # a GET changes nothing
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    done = client.post(f"/unsubscribe/{token}", data={"csrf_token": csrf})
    assert done.status_code == 200 and "unsubscribed" in done.get_data(as_text=True).lower()
    assert subscription_status(app, subscription_id) == SubscriptionStatus.UNSUBSCRIBED
    assert client.post(f"/unsubscribe/{token}", data={"csrf_token": csrf}).status_code == 200  # again: fine
    assert "Отписаться" in client.get(f"/unsubscribe/{token}?lang=ru").get_data(as_text=True)


def test_one_click_unsubscribe_needs_no_cookie_and_no_csrf(app, tokens):
    token, subscription_id = subscription_token(app, 1)
    bare = app.test_client(use_cookies=False)
    answer = bare.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert subscription_status(app, subscription_id) == SubscriptionStatus.UNSUBSCRIBED


def test_forged_or_altered_tokens_are_refused_and_say_nothing(app, client, tokens):
    token, subscription_id = subscription_token(app)
    with app.app_context():
        other_purpose = security.make_token("confirm", [1, 1])
        wrong_shape = security.make_token(unsubscribe.UNSUBSCRIBE_PURPOSE, {"s": 1})
        nobody = unsubscribe.unsubscribe_token(999_999, 1)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (altered, "garbage", other_purpose, wrong_shape, nobody):
        for method in (client.get, client.post):
            answer = method(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 404
            body = answer.get_data(as_text=True)
            assert "example.org" not in body and "person" not in body
    assert subscription_status(app, subscription_id) == SubscriptionStatus.SUBSCRIBED


# -- authentication ---------------------------------------------------------------------


def test_api_needs_a_coordinator_token(client, tokens):
    for headers in ({}, bearer("wrong"), {"Authorization": "Basic abc"}):
        answer = client.get("/api/v1/lists", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "errors" in answer.get_json()
    assert client.get("/api/v1/lists", headers=bearer(tokens["member"])).status_code == 403
    assert client.post("/api/v1/mailouts", json={}, headers=bearer(tokens["member"])).status_code == 403


def test_lists_with_their_subscriber_counts(client, tokens):
    answer = client.get("/api/v1/lists", headers=bearer(tokens["coordinator"]))
    assert answer.get_json() == {"lists": [{"slug": "updates", "name": "List updates", "subscribers": 3}]}


# -- import ---------------------------------------------------------------------------


def test_import_adds_updates_and_never_resubscribes_who_left(app, client, tokens):
    with app.app_context():
        mailing_list = _db.session.scalar(select(MailingList))
        for index, status in ((10, SubscriptionStatus.UNSUBSCRIBED), (11, SubscriptionStatus.BOUNCED),
                              (12, SubscriptionStatus.COMPLAINED), (13, SubscriptionStatus.UNCONFIRMED)):
            add_subscribers(mailing_list, [index], status=status)
        _db.session.commit()
    people = [{"email": address(i).upper(), "name": "Back Again", "locale": "de", "country": "fr"}
              for i in (10, 11, 12)]
    people += [
        {"email": address(13)},                                       # unconfirmed -> subscribed
        {"email": "new@example.org", "name": "Новый", "locale": "ru"},  # added
        {"email": "new@example.org"},                                 # twice in one import
        {"email": address(0)},                                        # already there, nothing new
        {"email": "not an address"}, {"email": "x@example.org", "locale": "xx", "country": "ZZ"}, "junk",
    ]
    answer = client.post("/api/v1/lists/updates/subscribers", headers=bearer(tokens["coordinator"]),
                         json={"subscribers": people, "confirmed": True})
    assert answer.status_code == 200
    result = answer.get_json()
    assert (result["added"], result["updated"], result["skipped"]) == (1, 1, 5)
    assert [error["index"] for error in result["errors"]] == [7, 8, 9]
    assert set(result["errors"][1]["errors"]) == {"locale", "country"}
    with app.app_context():
        by_email = {s.subscriber.email: s for s in _db.session.scalars(select(Subscription))}
        assert by_email[address(10)].status == SubscriptionStatus.UNSUBSCRIBED
        assert by_email[address(11)].status == SubscriptionStatus.BOUNCED
        assert by_email[address(12)].status == SubscriptionStatus.COMPLAINED
        assert by_email[address(13)].status == SubscriptionStatus.SUBSCRIBED
        assert by_email["new@example.org"].subscriber.name == "Новый"
        assert by_email[address(10)].subscriber.name == "Person 10"  # who left is left alone
        assert _db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "list.import"))


def test_unconfirmed_import_waits_for_a_confirmation(app, client, tokens):
    answer = client.post("/api/v1/lists/updates/subscribers", headers=bearer(tokens["coordinator"]),
                         json={"subscribers": [{"email": "later@example.org"}]})
    assert answer.get_json()["added"] == 1
    with app.app_context():
        subscription = _db.session.scalar(select(Subscription).join(Subscriber).where(
            Subscriber.email_digest == security.email_digest("later@example.org")))
        assert subscription.status == SubscriptionStatus.UNCONFIRMED
        assert subscription.confirmation_due_at is not None


def test_import_refuses_bad_shapes_and_unknown_lists(client, tokens):
    headers = bearer(tokens["coordinator"])
    assert client.post("/api/v1/lists/nope/subscribers", headers=headers,
                       json={"subscribers": []}).status_code == 404
    for body in ({"subscribers": "x"}, {"subscribers": [], "confirmed": "yes"}, [], "text"):
        answer = client.post("/api/v1/lists/updates/subscribers", headers=headers, json=body)
        assert answer.status_code == 422 and answer.get_json()["errors"]
    answer = client.post("/api/v1/lists/updates/subscribers", headers=headers, data="{not json",
                         content_type="application/json")
    assert answer.status_code == 422


# -- export ---------------------------------------------------------------------------


def test_export_streams_csv_with_formulas_neutralised_and_is_audited(app, client, tokens):
    dangerous = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tTab", "\rCR", "Ok"]
    with app.app_context():
        mailing_list = _db.session.scalar(select(MailingList))
        add_subscribers(mailing_list, range(50, 50 + len(dangerous)),
                        name=lambda i: dangerous[i - 50])
        _db.session.commit()
    answer = client.get("/api/v1/lists/updates/subscribers.csv", headers=bearer(tokens["coordinator"]))
    assert answer.status_code == 200 and answer.is_streamed
    assert answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True), newline="")))
    assert len(rows) == 3 + len(dangerous)
    names = {row["email"]: row["name"] for row in rows}
    for index, value in enumerate(dangerous[:-1]):
        assert names[address(50 + index)] == "'" + value
    assert names[address(56)] == "Ok"
    assert all(not row["name"].startswith(csvstream.FORMULA_STARTS) for row in rows)
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "list.export"))
        assert event is not None and event.actor_id is not None
    assert client.get("/api/v1/lists/updates/subscribers.csv",
                      headers=bearer(tokens["member"])).status_code == 403


def test_export_is_a_generator_of_chunks(app, tokens):
    with app.app_context():
        rows = subscribers.export_csv("updates", chunk_rows=2)
        assert not isinstance(rows, list)
        chunks = list(rows)
    assert len(chunks) >= 2 and chunks[0].startswith("email,name,")


# -- mail-outs ------------------------------------------------------------------------


def test_mailout_life_through_the_api(app, client, tokens):
    headers = bearer(tokens["coordinator"])
    answer = client.post("/api/v1/mailouts", headers=headers, json={
        "list": "updates", "subject": "News", "body_markdown": "Hello {{ name }}",
        "translations": {"de": {"subject": "Neuigkeiten", "body_markdown": "Hallo {{ name }}"}},
        "audience": {"country": ["DE"], "locale": ["en", "de"]}, "rate_per_minute": 6000,
    })
    assert answer.status_code == 201
    created = answer.get_json()
    assert created["status"] == "draft" and created["recipients"] == 3
    assert answer.headers["Location"].endswith(f"/mailouts/{created['id']}")
    mailout_id = created["id"]
    detail = client.get(f"/api/v1/mailouts/{mailout_id}", headers=headers).get_json()
    assert list(detail)[:10] == ["id", "status", "recipients", "sent", "failed", "pending",
                                 "bounced", "complained", "started_at", "finished_at"]
    assert (detail["bounced"], detail["complained"]) == (0, 0)
    # Tests run tasks inline with mail suppressed: the send finishes in the request.
    sent = client.post(f"/api/v1/mailouts/{mailout_id}/send", headers=headers)
    assert sent.status_code == 202
    detail = client.get(f"/api/v1/mailouts/{mailout_id}", headers=headers).get_json()
    assert (detail["status"], detail["sent"], detail["pending"]) == ("sent", 3, 0)
    assert detail["finished_at"] is not None
    for action in ("send", "pause", "cancel"):
        answer = client.post(f"/api/v1/mailouts/{mailout_id}/{action}", headers=headers)
        assert answer.status_code == 409 and answer.get_json()["errors"]


def test_pause_and_cancel_through_the_api(app, client, tokens):
    headers = bearer(tokens["coordinator"])
    mailout_id = client.post("/api/v1/mailouts", headers=headers, json={
        "list": "updates", "subject": "S", "body_markdown": "B"}).get_json()["id"]
    assert client.post(f"/api/v1/mailouts/{mailout_id}/pause", headers=headers).status_code == 409
    answer = client.post(f"/api/v1/mailouts/{mailout_id}/schedule", headers=headers,
                         json={"scheduled_at": "2999-01-01T09:00:00+00:00"})
    assert answer.status_code == 202 and answer.get_json()["status"] == "scheduled"
    for bad in ("tomorrow", "2999-01-01T09:00:00", 5, "2000-01-01T09:00:00+00:00"):
        answer = client.post(f"/api/v1/mailouts/{mailout_id}/schedule", headers=headers,
                             json={"scheduled_at": bad})
        assert answer.status_code == 422 and "scheduled_at" in answer.get_json()["errors"]
    answer = client.post(f"/api/v1/mailouts/{mailout_id}/cancel", headers=headers)
    assert answer.status_code == 202 and answer.get_json()["status"] == "cancelled"
    with app.app_context():
        actions = set(_db.session.scalars(select(AuditEvent.action)))
    assert {"mailout.create", "mailout.schedule", "mailout.cancel"} <= actions


def test_unknown_mailouts_are_404(client, tokens):
    headers = bearer(tokens["coordinator"])
    assert client.get("/api/v1/mailouts/12345", headers=headers).status_code == 404
    assert client.post("/api/v1/mailouts/12345/send", headers=headers).status_code == 404
    assert client.get("/api/v1/mailouts/abc", headers=headers).status_code == 404


def test_an_id_beyond_the_range_is_404_for_every_method(client, tokens):
    """GET and PUT share the address: Werkzeug once answered the PUT 405 ("GET allowed")."""
    headers = bearer(tokens["coordinator"])
    for method in (client.get, client.put):
        answer = method("/api/v1/mailouts/2147483648", headers=headers, json={})
        assert answer.status_code == 404, method
    assert client.post("/api/v1/mailouts/2147483648/duplicate", headers=headers).status_code == 404


def test_edit_and_duplicate_through_the_api(app, client, tokens):
    headers = bearer(tokens["coordinator"])
    fields = {"list": "updates", "subject": "News", "body_markdown": "Hello {{ name }}"}
    mailout_id = client.post("/api/v1/mailouts", headers=headers, json=fields).get_json()["id"]
    edited = client.put(f"/api/v1/mailouts/{mailout_id}", headers=headers,
                        json={**fields, "subject": "Better news", "rate_per_minute": 60})
    assert edited.status_code == 200 and edited.get_json()["rate_per_minute"] == 60
    copy = client.post(f"/api/v1/mailouts/{mailout_id}/duplicate", headers=headers)
    assert copy.status_code == 201 and copy.get_json()["status"] == "draft"
    assert copy.headers["Location"].endswith(f"/mailouts/{copy.get_json()['id']}")
    with app.app_context():
        from objectwar.mailing.models import Mailout
        assert [t.subject for t in _db.session.get(Mailout, copy.get_json()["id"]).texts] == [
            "Better news"]
    assert client.post(f"/api/v1/mailouts/{mailout_id}/send", headers=headers).status_code == 202
    late = client.put(f"/api/v1/mailouts/{mailout_id}", headers=headers, json=fields)
    assert late.status_code == 409 and "status" in late.get_json()["errors"]


@pytest.mark.parametrize("changes, field", [
    # Taken for "none" before, though the OpenAPI document allows only an object or null.
    ({"audience": False}, "audience"),
    ({"audience": ""}, "audience"),
    ({"translations": []}, "translations"),
    ({"translations": 0}, "translations"),
    # Codes as the document lists them, and a language when one is named.
    ({"locale": None}, "locale"),
    ({"locale": "DE"}, "locale"),
    ({"audience": {"country": ["de"]}}, "audience.country"),
    ({"translations": {"DE": {"subject": "S", "body_markdown": "B"}}}, "translations.DE"),
])
def test_mailout_fields_the_document_forbids_are_refused(client, tokens, changes, field):
    headers = bearer(tokens["coordinator"])
    answer = client.post("/api/v1/mailouts", headers=headers, json={
        "list": "updates", "subject": "S", "body_markdown": "B", **changes})
    assert answer.status_code == 422
    assert list(answer.get_json()["errors"]) == [field]


def test_bad_mailout_bodies_get_422_with_fields(client, tokens):
    headers = bearer(tokens["coordinator"])
    answer = client.post("/api/v1/mailouts", headers=headers, json={"list": "updates"})
    assert answer.status_code == 422
    assert {"subject", "body_markdown"} <= set(answer.get_json()["errors"])
    answer = client.post("/api/v1/mailouts", headers=headers, data=b"\xff\xfe", content_type="application/json")
    assert answer.status_code == 422
    answer = client.post("/api/v1/mailouts", headers=headers, json={
        "list": "updates", "subject": "S", "body_markdown": "B", "locale": True, "rate_per_minute": True})
    assert set(answer.get_json()["errors"]) == {"locale", "rate_per_minute"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["list", "subject", "body_markdown", "translations", "audience", "country",
                         "locale", "rate_per_minute", "de", "subscribers", "email", "confirmed", "x"]),
        children, max_size=5),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_garbage_never_causes_a_500(client, tokens, body):
    headers = {**bearer(tokens["coordinator"]), "Content-Type": "application/json"}
    data = json.dumps(body)
    for path in ("/api/v1/mailouts", "/api/v1/lists/updates/subscribers"):
        answer = client.post(path, headers=headers, data=data)
        assert answer.status_code in (200, 201, 422), (path, body, answer.get_json())

