"""The public forms as people use them, in a real browser (Chromium through Playwright).

A quick signer (autofill and a tap) is asked to press Sign again and is then
signed, never silently dropped; the language links after any form's answer lead
to a page; the application form, the password pages, the login form, the home
page and the directory do what a person expects. Skipped where Chromium is not
installed.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest
from sqlalchemy import func, select

from objectwar.accounts import services as accounts
from objectwar.accounts.models import User
from objectwar.extensions import db as _db
from objectwar.organisations.models import Organisation
from objectwar.petitions import signing
from objectwar.petitions.models import Signature
from tests.factories import MEMBER_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

PETITION = "/petitions/protect-objectors"
ASK_AGAIN = "Nothing is saved yet: please check your details and press Sign again."
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def app_overrides(smtp_server):
    # Longer than any test takes to fill a form in: every first press is "too fast".
    return {**smtp_server.config(), "SIGN_MIN_FILL_SECONDS": 60}


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB", viewport=PHONE)
    page = context.new_page()
    yield page
    context.close()


def count(app, model) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.count()).select_from(model))


def fill_sign_form(page, email: str = "quick@example.org") -> None:
    page.fill("#first_name", "Olena")
    page.fill("#last_name", "Kovalenko")
    page.fill("#email", email)
    page.select_option("#country", "UA")
    page.check("input[name=consent]")


def press_sign(page):
    with page.expect_navigation() as navigation:
        page.click(".sign-form button[type=submit]")
    return navigation.value


# -- item 1: quick signers ----------------------------------------------------------------


def test_a_quick_signer_is_asked_to_press_sign_again_and_then_signs(
        app, page, live_server, demo, smtp_server):
    page.goto(live_server + PETITION + "?org=ebco")
    fill_sign_form(page)
    page.check("input[name=public_name]")
    press_sign(page)
    # Not "Check your inbox": the form again, with what was typed and one sentence.
    assert page.inner_text("h1") != "Check your inbox"
    assert page.inner_text(".sign-form .notice") == ASK_AGAIN
    assert page.input_value("#first_name") == "Olena"
    assert page.input_value("#email") == "quick@example.org"
    assert page.input_value("#country") == "UA"
    assert page.is_checked("input[name=public_name]") and page.is_checked("input[name=consent]")
    assert "counted for European Bureau for Conscientious Objection" in page.inner_text(".sign-form")
    assert count(app, Signature) == 0 and smtp_server.messages == []
    # The second press, at once, goes through.
    press_sign(page)
    assert page.inner_text("h1") == "Check your inbox"
    assert count(app, Signature) == 1
    assert [message["To"] for message in smtp_server.messages] == ["quick@example.org"]


def test_a_form_left_open_for_a_year_is_asked_again_the_same_gentle_way(
        app, page, live_server, demo, smtp_server):
    with app.app_context(), mock.patch("time.time", return_value=time.time() - 365 * 24 * 3600):
        last_year = signing.form_stamp()
    page.goto(live_server + PETITION)
    # The page as it was served a year ago (a tab never closed).
    page.eval_on_selector(".sign-form input[name=stamp]", "(input, stamp) => input.value = stamp",
                          last_year)
    fill_sign_form(page, "slow@example.org")
    press_sign(page)
    assert page.inner_text(".sign-form .notice") == ASK_AGAIN
    assert page.input_value("#email") == "slow@example.org"
    assert count(app, Signature) == 0
    press_sign(page)
    assert page.inner_text("h1") == "Check your inbox"
    assert count(app, Signature) == 1


def test_a_filled_honeypot_is_still_dropped_silently(app, page, live_server, demo):
    page.goto(live_server + PETITION)
    fill_sign_form(page, "bot@example.org")
    page.eval_on_selector("#website", "input => input.value = 'http://spam.example'")
    press_sign(page)
    assert page.inner_text("h1") == "Check your inbox"
    assert count(app, Signature) == 0


# -- item 2: the language switch after a form's answer -----------------------------------


def switch_to_russian(page):
    with page.expect_navigation() as navigation:
        page.click("nav.languages a[lang=ru]")
    response = navigation.value
    assert response.status == 200, (response.status, page.url)
    assert page.locator("html").get_attribute("lang") == "ru"
    return response


def test_the_language_switch_after_a_sign_error_leads_to_the_petition(page, live_server, demo):
    page.goto(live_server + PETITION)
    fill_sign_form(page)
    press_sign(page)  # too fast: the form again
    page.fill("#email", "not an address")
    press_sign(page)
    assert page.locator("#email-error").is_visible()
    switch_to_russian(page)
    assert page.url.startswith(live_server + PETITION + "?")
    assert page.locator(".sign-form").is_visible()


def test_the_language_switch_after_an_application_error(page, live_server, demo):
    page.goto(live_server + "/organisations/apply")
    page.click("#content button[type=submit]")
    assert page.locator("#name-error").is_visible()
    switch_to_russian(page)
    assert page.locator("#content form #name").is_visible()


def test_the_language_switch_after_a_subscribe_error(page, live_server, demo):
    page.goto(live_server + "/lists/updates/subscribe")
    page.fill("#email", "not an address")
    page.click("#content button[type=submit]")
    assert page.locator("#email-error").is_visible()
    switch_to_russian(page)
    assert page.locator("#content form #email").is_visible()


def test_the_language_switch_after_a_login_error(page, live_server, demo):
    page.goto(live_server + "/account/login")
    page.fill("#email", "nobody@example.org")
    page.fill("#password", "wrong password")
    page.click("#content form button[type=submit]")
    assert page.locator(".notice").is_visible()
    switch_to_russian(page)
    assert page.locator("#content form #password").is_visible()


# -- item 7: forms people trip over ---------------------------------------------------------


def fill_application(page, contact_email: str) -> None:
    page.fill("#name", "Refuseniks Support Network")
    page.select_option("#country", "NL")
    page.fill("#contact_name", "Sanne de Vries")
    page.fill("#contact_email", contact_email)
    page.fill("#reason", "We advise deserters every week.")
    page.check("#consent")


def test_the_application_form_marks_required_fields_and_shows_no_markdown(page, live_server):
    page.goto(live_server + "/organisations/apply")
    for field in ("name", "country", "contact_name", "contact_email", "reason"):
        assert "(required)" in page.inner_text(f"label[for={field}]"), field
    for field in ("city", "website", "description"):
        assert "(required)" not in page.inner_text(f"label[for={field}]"), field
    assert "(required)" in page.inner_text(".checkbox:has(#consent)")
    assert page.inner_text("label[for=description]") == "Description"
    for label in page.locator("#content label").all_inner_texts():
        assert "*" not in label and "](" not in label, label


def test_typos_do_not_spend_the_rate_limit_and_a_reload_sends_nothing_again(
        app, page, live_server, smtp_server):
    page.goto(live_server + "/organisations/apply")
    fill_application(page, "sanne@refuseniks")  # a typo, six presses in a row
    for _ in range(6):
        page.click("#content button[type=submit]")
        assert page.locator("#contact_email-error").is_visible()
    page.fill("#contact_email", "sanne@refuseniks.example")
    page.click("#content button[type=submit]")
    assert page.inner_text("h1") == "Thank you for your application"
    assert page.url == live_server + "/organisations/apply/sent"
    page.reload()
    assert page.inner_text("h1") == "Thank you for your application"
    assert count(app, Organisation) == 1
    assert [m["To"] for m in smtp_server.messages] == ["sanne@refuseniks.example"]


def test_the_new_password_page_names_the_account_and_every_mistake(app, page, live_server, people):
    with app.app_context():
        token = accounts.reset_token(_db.session.get(User, people.member_a))
    page.goto(f"{live_server}/account/reset/{token}")
    username = page.locator("input[autocomplete=username]")
    assert username.input_value() == "alice@a.example"
    assert username.is_visible() and not username.is_editable()
    page.fill("#password", "too short")
    page.fill("#confirm", "too shorT")
    page.click("#content form button[type=submit]")
    assert page.inner_text("#password-error") == "Use at least 12 characters."
    assert page.inner_text("#confirm-error") == "The two passwords are not the same."
    page.fill("#password", MEMBER_PASSWORD + "!")
    page.fill("#confirm", MEMBER_PASSWORD + "!")
    page.click("#content form button[type=submit]")
    assert page.url.endswith("/account/login")


def test_an_empty_login_form_says_which_field_is_missing(page, live_server, people):
    page.goto(live_server + "/account/login")
    page.click("#content form button[type=submit]")
    assert page.inner_text("#email-error") == "Please enter your email address."
    assert page.inner_text("#password-error") == "Please enter your password."
    page.fill("#email", "alice@a.example")
    page.click("#content form button[type=submit]")
    assert page.locator("#email-error").count() == 0
    assert page.inner_text("#password-error") == "Please enter your password."


def test_an_organisation_on_the_home_page_leads_to_its_profile(page, live_server, demo):
    page.goto(live_server + "/")
    page.click("text=European Bureau for Conscientious Objection")
    assert page.url == live_server + "/organisations/ebco"
    assert page.inner_text("h1") == "European Bureau for Conscientious Objection"


def test_apply_to_join_is_on_the_directorys_first_screen(page, live_server, demo):
    page.goto(live_server + "/organisations")
    link = page.get_by_role("link", name="Your organisation wants to join? Apply here.")
    box = link.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"]
    link.click()
    assert page.url == live_server + "/organisations/apply"
