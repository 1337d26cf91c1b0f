"""Deleted or erased addresses stay off a list: imports skip them; only their owner brings them back."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from objectwar import security
from objectwar.accounts.models import Role, User
from objectwar.accounts.services import create_api_token
from objectwar.extensions import db as _db
from objectwar.mailing import subscribers, suppression
from objectwar.mailing.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from tests.factories import add_subscribers, address
from tests.helpers import confirm_import, csrf_token, link_in, subscribe, subscription_of, upload

UPDATES = "/admin/lists/updates"
GONE = address(0)


@pytest.fixture
def app_overrides() -> dict:
    return {"SUBSCRIBE_RATE_LIMIT": "1000 per minute"}


@pytest.fixture
def two_subscribers(app, people, demo):
    """List ``updates`` holds person 0 and 1; the private list ``press`` nobody."""
    with app.app_context():
        mailing_list = _db.session.scalar(select(MailingList).where(MailingList.slug == "updates"))
        add_subscribers(mailing_list, range(2))
        _db.session.add(MailingList(slug="press", name="Press", public=False))
        _db.session.commit()


def suppressions(app) -> list[tuple[str, str | None, SuppressionReason]]:
    with app.app_context():
        return [(s.email_digest, s.mailing_list_slug, s.reason) for s in _db.session.execute(
            select(Suppression.email_digest, MailingList.slug.label("mailing_list_slug"),
                   Suppression.reason)
            .outerjoin(MailingList, MailingList.id == Suppression.list_id))]


def delete_by_hand(app, coordinator, email: str = GONE) -> None:
    subscription = subscription_of(app, email)
    url = f"{UPDATES}/subscriptions/{subscription.id}/delete"
    page = coordinator.get(url).get_data(as_text=True)
    assert "No import will add the address to this list again" in page
    assert coordinator.post(url, data={"csrf_token": csrf_token(coordinator, url)}).status_code == 302
    assert subscription_of(app, email) is None


def api_import(app, emails: list[str], slug: str = "updates", confirmed: bool = True) -> dict:
    with app.app_context():
        if _db.session.scalar(select(User.id).where(User.role == Role.COORDINATOR,
                                                    User.email_digest == digest("api@objectwar.test"))) is None:
            _db.session.add(User(email_digest=digest("api@objectwar.test"),
                                 email="api@objectwar.test", role=Role.COORDINATOR))
            _db.session.commit()
        token = create_api_token("api@objectwar.test", "tests")
    answer = app.test_client().post(
        f"/api/v1/lists/{slug}/subscribers", headers={"Authorization": f"Bearer {token}"},
        json={"subscribers": [{"email": e} for e in emails], "confirmed": confirmed})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def digest(email: str) -> str:
    return security.email_digest(email)


def test_a_deletion_by_hand_writes_a_suppression_with_the_digest_only(app, auth, two_subscribers):
    coordinator = auth.coordinator()
    delete_by_hand(app, coordinator)
    with app.app_context():  # the address itself is nowhere in the table
        assert suppressions(app) == [(digest(GONE), "updates", SuppressionReason.DELETED)]
        stored = _db.session.execute(text("SELECT * FROM suppressions")).all()
        assert GONE not in repr(stored) and "person00000" not in repr(stored)


def test_csv_import_skips_a_deleted_address(app, auth, two_subscribers, outbox):
    coordinator = auth.coordinator()
    delete_by_hand(app, coordinator)
    preview = upload(coordinator, f"email\n{GONE}\nnew@example.org\n").get_data(as_text=True)
    result = confirm_import(coordinator, preview)
    assert result.status_code == 200
    assert subscription_of(app, GONE) is None
    assert subscription_of(app, "new@example.org").status == SubscriptionStatus.SUBSCRIBED
    assert not outbox


def test_api_import_skips_a_deleted_address_on_that_list_only(app, auth, two_subscribers, outbox):
    coordinator = auth.coordinator()
    delete_by_hand(app, coordinator)
    for confirmed in (True, False):  # an unconfirmed import would send it an email
        summary = api_import(app, [GONE, address(1)], confirmed=confirmed)
        assert summary["added"] == 0 and summary["skipped"] == 2
    assert subscription_of(app, GONE) is None and not outbox
    # The suppression is of the list it was deleted from.
    summary = api_import(app, [GONE], slug="press")
    assert summary["added"] == 1
    assert subscription_of(app, GONE, "press").status == SubscriptionStatus.SUBSCRIBED


def test_the_owner_comes_back_through_the_form_once_they_confirm(app, auth, two_subscribers, outbox):
    coordinator = auth.coordinator()
    delete_by_hand(app, coordinator)
    visitor = app.test_client()
    assert subscribe(visitor, email=GONE).status_code == 302
    assert subscription_of(app, GONE).status == SubscriptionStatus.UNCONFIRMED
    # Unconfirmed, the wish is only theirs if they confirm: imports still skip the address.
    assert api_import(app, [GONE])["skipped"] == 1
    assert subscription_of(app, GONE).status == SubscriptionStatus.UNCONFIRMED
    assert len(suppressions(app)) == 1
    (message,) = outbox
    link = link_in(message, "/lists/")
    assert visitor.post(link, data={"csrf_token": csrf_token(visitor, link)}).status_code == 200
    assert subscription_of(app, GONE).status == SubscriptionStatus.SUBSCRIBED
    assert suppressions(app) == []


def test_an_erasure_keeps_the_address_off_every_list(app, demo):
    with app.app_context():
        suppression.suppress(security.email_digest("erased@example.org"), SuppressionReason.ERASED)
        suppression.suppress(security.email_digest("erased@example.org"), SuppressionReason.ERASED)
        _db.session.add(MailingList(slug="press", name="Press"))
        _db.session.commit()
        assert _db.session.query(Suppression).count() == 1  # suppressing twice keeps one row
        for slug in ("updates", "press"):
            summary = subscribers.import_subscribers(slug, {"subscribers": [{"email": "Erased@Example.org"}],
                                                      "confirmed": True})
            assert summary["skipped"] == 1 and summary["added"] == 0
        assert _db.session.query(Subscription).count() == 0


def test_delete_one_service_suppresses_in_the_same_transaction(app, auth, two_subscribers, people):
    auth.coordinator()
    with app.app_context():
        subscription_id = _db.session.scalar(select(Subscription.id).join(Subscriber).where(
            Subscriber.email_digest == security.email_digest(address(1))))
        subscribers.delete_one(people.coordinator, "updates", subscription_id)
        _db.session.rollback()  # nothing left uncommitted
        assert _db.session.get(Subscription, subscription_id) is None
    with app.app_context():
        assert [found for found, _slug, _reason in suppressions(app)] == [digest(address(1))]


def test_subscribe_confirmed_by_a_signature_lifts_the_suppression(app, auth, two_subscribers):
    coordinator = auth.coordinator()
    delete_by_hand(app, coordinator)
    with app.test_request_context():
        from objectwar.mailing import subscribe as opt_in
        from objectwar.types import utcnow

        opt_in.subscribe_confirmed("updates", email=GONE, name=None, locale="en", country=None,
                                  source="petition", consented_at=utcnow())
        _db.session.commit()
    assert subscription_of(app, GONE).status == SubscriptionStatus.SUBSCRIBED
    assert suppressions(app) == []


def test_the_delete_page_is_translated(app, auth, two_subscribers):
    coordinator = auth.coordinator()
    subscription = subscription_of(app, GONE)
    page = coordinator.get(f"{UPDATES}/subscriptions/{subscription.id}/delete?lang=de").get_data(as_text=True)
    assert "Kein Import wird die Adresse" in page
