"""Sharing and street campaigning in a real browser (Chromium through Playwright)."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from objectwar.demo import PETITION_SLUG
from objectwar.extensions import db as _db
from tests.factories import (
    COORDINATOR_PASSWORD,
    MEMBER_PASSWORD,
    add_member_organisation,
    add_member_user,
)
from tests.helpers import log_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

PAGE = f"/petitions/{PETITION_SLUG}"
PUBLIC_URL = "https://objectwar.test"  # the testing config's
TITLES = {"en": "Protection and asylum for those who refuse to fight",
          "de": "Schutz und Asyl für alle, die sich dem Krieg verweigern",
          "ru": "Защита и убежище для тех, кто отказывается воевать"}


@pytest.fixture
def app_overrides(smtp_server):
    return {**smtp_server.config(), "SIGN_MIN_FILL_SECONDS": 0}


def _scan(png: bytes) -> str:
    """What a phone's camera reads from a picture of a QR code."""
    zxingcpp = pytest.importorskip("zxingcpp")  # test extra: an independent QR decoder
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return code.text


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_mastodon_share_reaches_the_chosen_server_under_the_csp(browser, live_server, demo):
    """A visitor types their Mastodon server and lands on its share page with our text."""
    context = browser.new_context(java_script_enabled=False)  # it works with JavaScript off too
    page = context.new_page()
    arrived, refused = [], []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.route("https://chaos.social/**", lambda route: (
        arrived.append(route.request.url),
        route.fulfill(status=200, content_type="text/html", body="<title>Mastodon</title><h1>Compose</h1>"),
    ))
    try:
        response = page.goto(live_server + PAGE, wait_until="load")
        assert "form-action 'self'" in response.headers["content-security-policy"]
        page.get_by_label("Mastodon: your server").fill("@anna@Chaos.social")
        page.get_by_role("button", name="Share on Mastodon").click()
        page.wait_for_url("https://chaos.social/share?**", timeout=10_000)
        assert page.get_by_role("heading", name="Compose").is_visible()
        assert refused == []
        assert len(arrived) == 1
        assert "https%3A%2F%2Fobjectwar.test%2Fpetitions%2Fprotect-objectors" in arrived[0]
    finally:
        context.close()


def test_a_pasted_link_shows_the_petition_in_the_pages_language(browser, live_server, demo):
    """What a messenger reads from the page: title, description, image, locales; and the icon."""
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    try:
        page.goto(live_server + PAGE, wait_until="load")

        def meta(key: str) -> str | None:
            return page.get_attribute(f"meta[property='{key}'], meta[name='{key}']", "content")

        assert meta("og:title") == TITLES["de"] == meta("twitter:title")
        assert meta("description") == meta("og:description")
        assert meta("description").startswith("Hunderttausende")
        assert meta("og:locale") == "de_DE"
        assert sorted(page.eval_on_selector_all("meta[property='og:locale:alternate']",
                                                "tags => tags.map(tag => tag.content)")) == [
            "be_BY", "en_US", "ru_RU", "uk_UA"]
        canonical = page.get_attribute("link[rel=canonical]", "href")
        assert canonical == meta("og:url") == f"{PUBLIC_URL}{PAGE}?lang=de"
        assert meta("twitter:card") == "summary_large_image"
        image = meta("og:image")
        assert image == meta("twitter:image")
        assert image.startswith(f"{PUBLIC_URL}{PAGE}/share.png?locale=de&v=0")
        # The image, as a messenger's preview fetches it.
        page.goto(live_server + image.removeprefix(PUBLIC_URL), wait_until="load")
        assert page.evaluate("[document.images[0].naturalWidth, document.images[0].naturalHeight]") == [
            1200, 630]
        # The icon: the one the page names, and /favicon.ico where others look.
        page.goto(live_server + "/", wait_until="load")
        for href in page.eval_on_selector_all("link[rel=icon]", "links => links.map(link => link.href)"):
            assert context.request.get(href).headers["content-type"].startswith("image/")
        icon = context.request.get(live_server + "/favicon.ico")
        assert icon.status == 200 and Image.open(io.BytesIO(icon.body())).format == "ICO"
        assert failed == []
    finally:
        context.close()


def test_a_partner_prints_a_poster_and_signatures_through_it_count_for_them(
        app, browser, live_server, smtp_server, demo):
    with app.test_request_context():
        add_member_user(add_member_organisation("street-team", "Street Team"), "sam@street.example")
        _db.session.commit()
    member = browser.new_context(locale="en-GB")
    page = member.new_page()
    visitor = browser.new_context(locale="de-DE")
    try:
        log_in_browser(page, live_server, "/my/organisation", "sam@street.example", MEMBER_PASSWORD)
        card = page.locator("section.credit", has_text=TITLES["en"])
        card.get_by_label("Language of the poster").select_option("de")
        card.get_by_role("button", name="Show the poster").click()
        # The poster, in German, credits Street Team.
        assert page.inner_text(".poster-title") == TITLES["de"]
        assert page.locator(".poster-page .demands li").count() == 4
        assert "Street Team" in page.inner_text(".poster-page")
        credited = f"{PUBLIC_URL}{PAGE}?org=street-team"
        assert page.inner_text(".poster-url") == credited
        # A phone scans the code as the page shows it ...
        assert _scan(page.locator(".poster-qr svg").screenshot()) == credited
        # ... and the printed sheet is one A4 page, without the page's tools.
        page.emulate_media(media="print")
        assert not page.locator(".poster-tools").is_visible()
        assert _pdf_pages(page.pdf(format="A4")) == 1
        page.emulate_media(media="screen")
        # The code to download, for flyers: PNG and SVG.
        with page.expect_download() as download:
            page.get_by_role("link", name="QR code (PNG)").click()
        with open(download.value.path(), "rb") as file:
            assert _scan(file.read()) == credited
        with page.expect_download() as download:
            page.get_by_role("link", name="QR code (SVG)").click()
        with open(download.value.path(), encoding="utf-8") as file:
            assert "<svg" in file.read()

        # At the event, someone scans the flyer and signs.
        phone = visitor.new_page()
        phone.goto(live_server + credited.removeprefix(PUBLIC_URL))
        phone.fill("#first_name", "Olena")
        phone.fill("#last_name", "Kowalenko")
        phone.fill("#email", "olena@example.org")
        phone.select_option("#country", "DE")
        phone.check("[name=consent]")
        phone.click("form.sign-form button[type=submit]")
        (message,) = [m for m in smtp_server.messages if m["To"] == "olena@example.org"]
        link = re.search(r"https?://\S+/confirm/\S+", message.get_body(("plain",)).get_content()).group(0)
        phone.goto(live_server + link.removeprefix(PUBLIC_URL))
        phone.click("#content form button[type=submit]")

        # The signature counts for the organisation that handed out the flyer.
        page.goto(live_server + "/my/organisation")
        assert "1 confirmed signature" in page.locator("section.credit", has_text=TITLES["en"]).inner_text()
    finally:
        member.close()
        visitor.close()


def test_a_coordinator_prints_a_poster_for_a_partner_or_for_nobody(app, browser, live_server, people, demo):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        log_in_browser(page, live_server, f"/admin/petitions/{PETITION_SLUG}", "coord@campaign.example",
                COORDINATOR_PASSWORD)
        page.get_by_label("Signatures count for").select_option(label="Organisation B")
        page.get_by_label("Language of the poster").select_option("ru")
        page.get_by_role("button", name="Show the poster").click()
        assert page.inner_text(".poster-title") == TITLES["ru"]
        assert _scan(page.locator(".poster-qr svg").screenshot()) == f"{PUBLIC_URL}{PAGE}?org=org-b"
        # The same poster in English: the credit is kept.
        page.get_by_role("link", name="English").last.click()
        assert page.inner_text(".poster-title") == TITLES["en"]
        assert _scan(page.locator(".poster-qr svg").screenshot()) == f"{PUBLIC_URL}{PAGE}?org=org-b"
        with page.expect_download() as download:
            page.get_by_role("link", name="QR code (PNG)").click()
        with open(download.value.path(), "rb") as file:
            assert _scan(file.read()) == f"{PUBLIC_URL}{PAGE}?org=org-b"

        page.goto(f"{live_server}/admin/petitions/{PETITION_SLUG}")
        page.get_by_role("button", name="Show the poster").click()  # no organisation chosen
        assert _scan(page.locator(".poster-qr svg").screenshot()) == f"{PUBLIC_URL}{PAGE}"
    finally:
        context.close()
