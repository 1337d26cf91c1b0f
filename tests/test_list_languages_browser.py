"""Mailing lists and petitions in the visitor's language, in a real browser (Chromium).

A Russian visitor sees the list's Russian name on every page and email of
subscribing and unsubscribing; where a list has no name in their language they
see the default language's with a note, never silently. A coordinator enters
the names. The widget says so when a petition is not translated. Skipped where
Chromium is not installed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from objectwar.extensions import db as _db
from objectwar.mailing import unsubscribe
from objectwar.mailing.models import MailingList, Subscription
from objectwar.petitions.models import PetitionText
from tests.factories import COORDINATOR_PASSWORD
from tests.helpers import link_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

RU_NAME = "Новости кампании"
NOTE = ".list-fallback"  # its words are translated by the catalogue, the language's name is fixed


@pytest.fixture
def app_overrides(smtp_server):
    return {**smtp_server.config(), "SIGN_MIN_FILL_SECONDS": 0}


@pytest.fixture
def visitor(browser):
    """A browser that asks for Russian pages, on a phone."""
    context = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def subscribe(page, base: str, slug: str, email: str) -> None:
    page.goto(f"{base}/lists/{slug}/subscribe")
    page.fill("#email", email)
    page.check("#consent")
    with page.expect_navigation():
        page.click("form button[type=submit]")


def unsubscribe_path(app, email_digest_of: str) -> str:
    with app.app_context():
        subscription = _db.session.scalars(select(Subscription)).one()
        assert subscription.subscriber.email == email_digest_of
        return "/unsubscribe/" + unsubscribe.unsubscribe_token(subscription.subscriber_id,
                                                            subscription.list_id)


def test_a_russian_visitor_sees_the_lists_russian_name_throughout(
        app, visitor, live_server, demo, smtp_server):
    page = visitor
    page.goto(live_server + "/lists/updates/subscribe")
    assert page.inner_text("h1") == f"Подписаться на «{RU_NAME}»"
    assert "Campaign updates" not in page.content()
    assert "акции, результаты" in page.inner_text("main")
    assert page.locator(NOTE).count() == 0

    subscribe(page, live_server, "updates", "ivan@example.org")
    assert RU_NAME in page.inner_text("main")  # "check your inbox … «Новости кампании»"

    [message] = smtp_server.messages
    text = body_of(message)
    assert RU_NAME in text and "Campaign updates" not in text
    assert RU_NAME in message.get_body(("html",)).get_content()

    page.goto(live_server + link_in(text, "/confirm/"))
    assert RU_NAME in page.inner_text("main")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert RU_NAME in page.inner_text("h1")

    page.goto(live_server + unsubscribe_path(app, "ivan@example.org"))
    assert RU_NAME in page.inner_text("main")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert RU_NAME in page.inner_text("main")
    assert "Campaign updates" not in page.content()


def test_a_list_without_a_russian_name_says_so(app, visitor, live_server, demo, smtp_server):
    with app.app_context():
        _db.session.add(MailingList(slug="press", name="Press releases", public=True,
                                    description="For journalists."))
        _db.session.commit()
    page = visitor
    page.goto(live_server + "/lists/press/subscribe")
    assert "Press releases" in page.inner_text("h1")
    assert "English" in page.inner_text(NOTE)  # the fallback is visible

    subscribe(page, live_server, "press", "olga@example.org")
    assert "English" in page.inner_text(NOTE)
    [message] = smtp_server.messages
    text = body_of(message)
    assert "Press releases" in text
    # the email's note, in Russian, names the language the list is shown in
    assert "У этого списка пока нет названия на вашем языке" in text and "English" in text

    page.goto(live_server + unsubscribe_path(app, "olga@example.org"))
    assert "English" in page.inner_text(NOTE)


def test_a_coordinator_gives_a_list_its_name_in_belarusian(app, browser, live_server, people):
    with app.app_context():
        _db.session.add(MailingList(slug="press", name="Press releases", public=True, description=""))
        _db.session.commit()
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(live_server + "/account/login")
    page.fill("#email", "coord@campaign.example")
    page.fill("#password", COORDINATOR_PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    page.goto(live_server + "/admin/lists/press")
    page.fill("#name_be", "Прэс-рэлізы")
    page.fill("#description_be", "Для журналістаў.")
    page.fill("#name_de", "Pressemitteilungen")
    page.fill("#description_de", "x" * 2001)  # too long: nothing is saved, the field says why
    with page.expect_navigation():
        page.click("form[method=post][action$='/admin/lists/press'] button[type=submit]")
    assert page.locator("#description_de-error").is_visible()
    assert page.input_value("#name_be") == "Прэс-рэлізы"  # what was typed stays
    with app.app_context():
        assert _db.session.scalar(select(MailingList).where(MailingList.slug == "press")).texts == []
    page.fill("#description_de", "Für Journalistinnen und Journalisten.")
    with page.expect_navigation():
        page.click("form[method=post][action$='/admin/lists/press'] button[type=submit]")
    assert page.input_value("#name_be") == "Прэс-рэлізы"
    assert page.input_value("#name_de") == "Pressemitteilungen"
    context.close()

    context = browser.new_context(locale="be-BY")
    page = context.new_page()
    page.goto(live_server + "/lists/press/subscribe")
    assert "Прэс-рэлізы" in page.inner_text("h1")
    assert "Для журналістаў." in page.inner_text("main")
    assert page.locator(NOTE).count() == 0
    context.close()


def test_the_widget_says_when_the_petition_is_not_in_the_visitors_language(
        app, visitor, live_server, demo):
    with app.app_context():
        _db.session.execute(delete(PetitionText).where(PetitionText.locale == "ru"))
        _db.session.commit()
    visitor.goto(live_server + "/petitions/protect-objectors/embed")
    assert visitor.locator(".widget-title").get_attribute("lang") == "en"
    assert "не переведена" in visitor.inner_text(".widget")
    assert visitor.locator(".sign-form button[type=submit]").is_visible()
