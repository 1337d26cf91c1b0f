"""The public forms people trip over: the answer after an error, its language links, labels.

Every language link of a form's answer leads to a page that answers a GET in
that language; the application form marks its required fields and answers with
a redirect; the password pages name the account and every mistake at once.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from objectwar.accounts import services as accounts
from objectwar.accounts.models import Invitation, User
from objectwar.extensions import db as _db
from tests.helpers import csrf_token
from tests.signing_support import SIGN_URL, SLUG, form_data, sign_form

LANGUAGES = ("en", "de", "ru", "uk", "be")


@pytest.fixture
def app_overrides() -> dict:
    return {"SIGN_MIN_FILL_SECONDS": 0}


def language_links(page: str) -> dict[str, str]:
    """The language switcher's links: code -> href."""
    nav = re.search(r'<nav class="languages".*?</nav>', page, re.S).group(0)
    return {code: unescape(href) for href, code in re.findall(r'<a href="([^"]+)" lang="(\w+)"', nav)}


def assert_links_lead_to_get_pages(client, page: str, expected_path: str) -> None:
    links = language_links(page)
    assert set(links) == set(LANGUAGES)
    for code, href in links.items():
        assert href.split("?")[0] == expected_path, href
        answer = client.get(href)
        assert answer.status_code == 200, href
        assert f'<html lang="{code}"' in answer.get_data(as_text=True)


def test_language_links_after_a_sign_error_lead_to_the_petition_page(client, demo):
    response = sign_form(client, f"/petitions/{SLUG}?org=ebco", email="not an address")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert_links_lead_to_get_pages(client, page, f"/petitions/{SLUG}")
    assert "org=ebco" in language_links(page)["ru"]  # the credit to the partner stays


def test_language_links_after_a_too_fast_sign_lead_to_the_petition_page(app, client, demo):
    app.config["SIGN_MIN_FILL_SECONDS"] = 60
    response = sign_form(client)
    assert response.status_code == 200
    assert_links_lead_to_get_pages(client, response.get_data(as_text=True), f"/petitions/{SLUG}")


def test_language_links_after_a_refused_mastodon_share_lead_to_the_petition_page(client, demo):
    response = client.post(f"/petitions/{SLUG}/share/mastodon",
                           data={"instance": "chaos.social", "stamp": "forged"})
    assert response.status_code == 400
    assert_links_lead_to_get_pages(client, response.get_data(as_text=True), f"/petitions/{SLUG}")


def test_the_widget_shown_again_after_an_error_has_no_dead_end(client, demo):
    page = client.get(f"/petitions/{SLUG}/embed").get_data(as_text=True)
    response = client.post(SIGN_URL, data=form_data(page, country=None))
    assert response.status_code == 422
    assert '<nav class="languages"' not in response.get_data(as_text=True)  # no switcher in a frame


def test_language_links_after_an_application_error(client, demo):
    token = csrf_token(client, "/organisations/apply")
    response = client.post("/organisations/apply", data={"csrf_token": token, "name": "X"})
    assert response.status_code == 422
    assert_links_lead_to_get_pages(client, response.get_data(as_text=True), "/organisations/apply")


def test_language_links_after_a_subscribe_error(client, demo):
    token = csrf_token(client, "/lists/updates/subscribe")
    response = client.post("/lists/updates/subscribe", data={"csrf_token": token, "email": "x"})
    assert response.status_code == 422
    assert_links_lead_to_get_pages(client, response.get_data(as_text=True), "/lists/updates/subscribe")


def test_language_links_after_a_login_error(client, demo):
    token = csrf_token(client, "/account/login?next=/my/organisation")
    response = client.post("/account/login?next=/my/organisation",
                           data={"csrf_token": token, "email": "a@b.example", "password": "wrong"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert_links_lead_to_get_pages(client, page, "/account/login")
    assert "next=" in language_links(page)["de"]


def test_a_post_only_address_without_a_form_page_links_home(app):
    from objectwar.i18n import form_page, lang_url

    with app.test_request_context("/account/logout", method="POST"):
        assert lang_url("ru") == "/?lang=ru"
    with app.test_request_context("/account/login?next=/x", method="POST"):
        assert lang_url("ru") == "/account/login?next=%2Fx&lang=ru"
    with app.test_request_context(SIGN_URL, method="POST"):
        form_page("petitions.embed", slug=SLUG, org="ebco")
        assert lang_url("de") == f"/petitions/{SLUG}/embed?org=ebco&lang=de"


# -- the application form ---------------------------------------------------------------


def labels(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", label) for label in re.findall(r"<label[^>]*>(.*?)</label>", page, re.S)]


def test_the_application_form_marks_required_fields_in_words_and_labels_hold_no_markdown(client):
    page = client.get("/organisations/apply").get_data(as_text=True)
    marked = [" ".join(label.split()) for label in labels(page) if "(required)" in label]
    assert [label.split(" (required)")[0] for label in marked] == [
        "Name of the organisation", "Country", "Contact person", "Contact email address",
        "Why do you want to join the campaign?",
        "I agree that the campaign stores and processes these details to handle our "
        "application and, if accepted, to show our public profile.",
    ]
    for label in labels(page):
        assert not re.search(r"[*\[\]]|\]\(", label), label
    assert "You can format them with Markdown." in page
    assert re.search(r'<input[^>]*id="consent"[^>]*required', page)


# -- passwords and logging in -------------------------------------------------------------


def test_the_reset_page_names_the_account_for_password_managers_and_every_error_at_once(
        client, app, people):
    with app.app_context():
        token = accounts.reset_token(_db.session.get(User, people.member_a))
    path = f"/account/reset/{token}"
    page = client.get(path).get_data(as_text=True)
    assert re.search(r'<input id="username" name="username" type="email" value="alice@a\.example" '
                     r'autocomplete="username" readonly>', page)
    response = client.post(path, data={"csrf_token": csrf_token(client, path),
                                       "password": "short", "confirm": "shorter"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Use at least 12 characters." in page
    assert "The two passwords are not the same." in page
    assert 'value="alice@a.example" autocomplete="username"' in page


def test_the_invitation_page_names_the_invited_address(client, app, people):
    with app.app_context():
        token = accounts.invitation_token(_db.session.get(Invitation, people.invitation_b))
    page = client.get(f"/account/invitation/{token}").get_data(as_text=True)
    assert 'value="new@b.example" autocomplete="username" readonly' in page


def test_check_new_password_reports_both_mistakes(app):
    from objectwar.errors import ValidationError

    with app.test_request_context(), pytest.raises(ValidationError) as raised:
        accounts.check_new_password("short", "other")
    assert set(raised.value.errors) == {"password", "confirm"}


@pytest.mark.parametrize(("sent", "missing"), [
    ({}, {"email", "password"}),
    ({"email": "alice@a.example"}, {"password"}),
    ({"password": "something"}, {"email"}),
])
def test_an_empty_login_form_says_which_field_is_missing(client, people, sent, missing):
    response = client.post("/account/login", data={"csrf_token": csrf_token(client, "/account/login"),
                                                    **sent})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    messages = {"email": "Please enter your email address.", "password": "Please enter your password."}
    for name, message in messages.items():
        assert (f'<p class="field-error" id="{name}-error">{message}</p>' in page) == (name in missing)
    assert "The email address or the password is not right" not in page


# -- the home page and the directory -------------------------------------------------------


def test_organisation_names_on_the_home_page_link_to_their_profiles(client, demo):
    page = client.get("/").get_data(as_text=True)
    assert '<a href="/organisations/ebco">European Bureau for Conscientious Objection</a>' in page
    assert client.get("/organisations/ebco").status_code == 200


def test_the_directory_offers_to_apply_before_the_list(client, demo):
    page = client.get("/organisations").get_data(as_text=True)
    assert page.index('href="/organisations/apply"', page.index("<h1>")) < page.index('class="directory"')
