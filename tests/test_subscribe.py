"""The public subscribe form of a list: double opt-in, the same answer for everyone, the rate limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from objectwar import security
from objectwar.extensions import db as _db
from objectwar.mailing import list_admin
from objectwar.mailing import subscribe as opt_in
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from objectwar.types import utcnow
from tests.helpers import csrf_token, link_in, subscribe, subscription_of

FORM = "/lists/updates/subscribe"


@pytest.fixture
def app_overrides() -> dict:
    return {"SUBSCRIBE_RATE_LIMIT": "1000 per minute"}


def test_subscribe_confirm_by_email(app, client, demo, outbox):
    page = client.get(FORM)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("name", "email", "consent", "locale", "csrf_token"):
        assert f'name="{name}"' in html
    assert "<script" not in html and "style=" not in html

    response = subscribe(client)
    assert response.status_code == 302
    answer = client.get(response.headers["Location"])
    assert "Check your inbox" in answer.get_data(as_text=True)
    assert subscription_of(app, "reader@example.org").status == SubscriptionStatus.UNCONFIRMED

    assert len(outbox) == 1
    message = outbox[0]
    assert message.recipients == ["reader@example.org"]
    assert message.subject == "Please confirm your subscription"
    assert "Campaign updates" not in message.subject  # a neutral subject
    assert message.html and "Confirm my subscription" in message.html
    link = link_in(message, "/lists/")

    # GET shows a button and changes nothing (mail scanners follow links).
    confirm_page = client.get(link)
    assert confirm_page.status_code == 200
    assert "Confirm my subscription" in confirm_page.get_data(as_text=True)
    assert subscription_of(app, "reader@example.org").status == SubscriptionStatus.UNCONFIRMED

    token = csrf_token(client, link)
    done = client.post(link, data={"csrf_token": token})
    assert done.status_code == 200
    subscription = subscription_of(app, "reader@example.org")
    assert subscription.status == SubscriptionStatus.SUBSCRIBED
    assert subscription.consented_at is not None
    assert subscription.source == "form"
    assert subscription.confirmation_due_at is None
    # Idempotent.
    assert client.post(link, data={"csrf_token": token}).status_code == 200
    assert subscription_of(app, "reader@example.org").consented_at == subscription.consented_at


def test_email_in_the_subscribers_locale(app, client, demo, outbox):
    subscribe(client, email="leser@example.org", locale="de")
    with app.app_context():
        person = _db.session.scalar(select(Subscriber).where(
            Subscriber.email_digest == security.email_digest("leser@example.org")))
        assert person.locale == "de"
    assert len(outbox) == 1


def test_same_answer_for_a_known_address(app, client, demo, outbox):
    first = subscribe(client)
    second = subscribe(client, name="Someone Else")
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    # The second request within hours sends nothing more (a few emails a day at most)
    # and changes nothing a stranger could change.
    assert len(outbox) == 1
    with app.app_context():
        person = _db.session.scalar(select(Subscriber).where(
            Subscriber.email_digest == security.email_digest("reader@example.org")))
        assert person.name == "Reader"
        assert _db.session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_subscribed_person_gets_already_subscribed(app, client, demo, outbox):
    subscribe(client)
    client.post(link_in(outbox[0], "/lists/"), data={"csrf_token": csrf_token(client, FORM)})
    with app.app_context():  # a day later
        subscription = _db.session.get(Subscription, subscription_of(app, "reader@example.org").id)
        subscription.confirmation_sent_at = utcnow() - timedelta(days=1)
        _db.session.commit()
    assert subscribe(client).status_code == 302
    assert len(outbox) == 2
    assert "subscribed already" in outbox[1].body
    assert "/confirm/" not in outbox[1].body


def test_unsubscribed_person_may_opt_in_again_through_the_form(app, client, demo, outbox):
    with app.app_context():
        mailing_list = list_admin.get_list("updates")
        person = Subscriber(email_digest=security.email_digest("left@example.org"),
                            email="left@example.org", locale="en")
        _db.session.add(person)
        _db.session.flush()
        _db.session.add(Subscription(list_id=mailing_list.id, subscriber_id=person.id,
                                     status=SubscriptionStatus.UNSUBSCRIBED, source="import"))
        _db.session.commit()
    assert subscribe(client, email="left@example.org").status_code == 302
    # Asking changes nothing: only the owner's confirmation does.
    assert subscription_of(app, "left@example.org").status == SubscriptionStatus.UNSUBSCRIBED
    link = link_in(outbox[0], "/lists/")
    client.post(link, data={"csrf_token": csrf_token(client, link)})
    subscription = subscription_of(app, "left@example.org")
    assert subscription.status == SubscriptionStatus.SUBSCRIBED
    assert subscription.source == "form"


def test_field_errors(app, client, demo, outbox):
    response = subscribe(client, email="not an address", consent=None, name="x" * 101)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This does not look like an email address." in page
    assert "Please agree to how we use your address" in page
    assert "Use at most 100 characters." in page
    assert 'value="not an address"' in page
    assert not outbox
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_only_public_lists(app, client, demo):
    with app.app_context():
        _db.session.add(MailingList(slug="internal", name="Internal", public=False))
        _db.session.commit()
    assert client.get("/lists/internal/subscribe").status_code == 404
    assert client.get("/lists/nothing/subscribe").status_code == 404


def test_forged_or_foreign_links_are_refused(app, client, demo, outbox):
    subscribe(client)
    link = link_in(outbox[0], "/lists/")
    assert client.get(link + "x").status_code == 404
    with app.app_context():
        _db.session.add(MailingList(slug="other", name="Other", public=True))
        _db.session.commit()
    assert client.get(link.replace("/lists/updates/", "/lists/other/")).status_code == 404


def test_the_outbox_catches_a_lost_queue_message(app, client, demo, outbox, monkeypatch):
    from objectwar import tasks

    monkeypatch.setattr(tasks, "send_subscription_confirmation", lambda _id: None)
    subscribe(client)
    assert not outbox
    with app.app_context():
        subscription = _db.session.get(Subscription, subscription_of(app, "reader@example.org").id)
        subscription.confirmation_due_at = utcnow() - timedelta(minutes=5)
        _db.session.commit()
        assert opt_in.overdue_subscription_confirmations() == [subscription.id]
        tasks.send_overdue_subscription_confirmations.call_local()
    assert len(outbox) == 1
    with app.app_context():
        assert opt_in.overdue_subscription_confirmations() == []


@pytest.mark.parametrize("app_overrides", [{"SUBSCRIBE_RATE_LIMIT": "2 per minute"}])
def test_rate_limit(app, client, demo, outbox):
    assert subscribe(client, email="a@example.org").status_code == 302
    assert client.get(FORM).status_code == 200  # reading does not count
    assert subscribe(client, email="b@example.org").status_code == 302
    limited = subscribe(client, email="c@example.org")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert subscription_of(app, "c@example.org") is None


# -- a subscription's confirmation link never undoes an unsubscribe -----------------


def _subscribe_and_get_link(client, outbox, email: str) -> str:
    before = len(outbox)
    assert subscribe(client, email=email).status_code == 302
    assert len(outbox) == before + 1
    return link_in(outbox[-1], "/lists/")


def _post_link(client, link: str):
    return client.post(link, data={"csrf_token": csrf_token(client, "/lists/updates/subscribe")})


def _status(app, email: str):
    subscription = subscription_of(app, email)
    return subscription.status, subscription.changed_at


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(app, client, demo, outbox):
    from objectwar.mailing import unsubscribe
    from objectwar.mailing.models import Subscription, SubscriptionStatus

    email = "changed.mind@example.org"
    link = _subscribe_and_get_link(client, outbox, email)
    assert _post_link(client, link).status_code == 200
    subscribed, confirmed_at = _status(app, email)
    assert subscribed == SubscriptionStatus.SUBSCRIBED
    assert _post_link(client, link).status_code == 200  # again: changes nothing
    assert _status(app, email) == (SubscriptionStatus.SUBSCRIBED, confirmed_at)

    with app.app_context():
        subscription = _db.session.scalar(select(Subscription))
        unsubscribe.unsubscribe(unsubscribe.unsubscribe_token(subscription.subscriber_id, subscription.list_id))
    for answer in (client.get(link), _post_link(client, link)):
        assert answer.status_code == 404
        assert "not valid or has expired" in answer.get_data(as_text=True)
    assert _status(app, email)[0] == SubscriptionStatus.UNSUBSCRIBED

    # The person asks again through the form (a day later): the new link works, the old one does not.
    with app.app_context():
        subscription = _db.session.scalar(select(Subscription))
        subscription.confirmation_sent_at = subscription.confirmation_sent_at.replace(year=2000)
        _db.session.commit()
    fresh = _subscribe_and_get_link(client, outbox, email)
    assert fresh != link
    assert _post_link(client, link).status_code == 404
    assert _status(app, email)[0] == SubscriptionStatus.UNSUBSCRIBED
    assert _post_link(client, fresh).status_code == 200
    assert _status(app, email)[0] == SubscriptionStatus.SUBSCRIBED


@pytest.mark.parametrize("final", ["bounced", "complained"])
def test_no_confirmation_link_resubscribes_a_bounced_or_complaining_address(
        app, client, demo, outbox, final):
    from objectwar.mailing.models import Subscription, SubscriptionStatus
    from objectwar.types import utcnow

    email = "gone@example.org"
    link = _subscribe_and_get_link(client, outbox, email)
    with app.app_context():
        subscription = _db.session.scalar(select(Subscription))
        subscription.status = SubscriptionStatus(final)
        subscription.changed_at = utcnow()
        _db.session.commit()
        current = opt_in.subscription_token(subscription)  # even a link of the present state
    for token_link in (link, link.rsplit("/", 1)[0] + "/" + current):
        assert _post_link(client, token_link).status_code == 404
        assert client.get(token_link).status_code == 404
    assert _status(app, email)[0] == SubscriptionStatus(final)
