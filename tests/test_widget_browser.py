"""The petition widget on a partner's website, in a real browser (Chromium through Playwright).

A partner copies the snippet from the petition page (or from /my/organisation)
into a page of its own, on another origin. On a phone the whole form, its
errors included, fits the frame the snippet asks for, so the Sign button is
never hidden in a second scroll area; with our optional script the frame
takes the widget's own height. Skipped where Chromium is not installed.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import free_port

from tests.helpers import login_as

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

PETITION = "/petitions/protect-objectors"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def app_overrides() -> dict:
    return {"SIGN_MIN_FILL_SECONDS": 0}


@pytest.fixture
def ours(app, live_server) -> str:
    """The live server as the app's PUBLIC_URL: the snippet names it, as in production."""
    app.config["PUBLIC_URL"] = live_server
    app.extensions.pop("objectwar.public_urls", None)
    return live_server


class Partner:
    """A partner's website: static files from a second local server (another origin)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, name: str, body: str) -> str:
        """Publish a page with ``body`` in it; return its address."""
        (self.root / name).write_text(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Partner</title></head><body><h1>Our campaign</h1>{body}"
            "<p>More of the partner's page.</p></body></html>", encoding="utf-8")
        return f"{self.url}/{name}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        pass


@pytest.fixture
def partner(tmp_path) -> Iterator[Partner]:
    site = Partner(tmp_path)
    site.thread.start()
    yield site
    site.server.shutdown()
    site.thread.join(timeout=5)


def open_page(browser, viewport: dict, url: str, locale: str = "en-GB"):
    context = browser.new_context(locale=locale, viewport=viewport)
    page = context.new_page()
    page.goto(url)
    return page


def copied_snippet(browser, url: str, selector: str = "#embed-code") -> str:
    """The snippet as a partner copies it from one of our pages."""
    page = open_page(browser, DESKTOP, url)
    try:
        return page.input_value(selector)
    finally:
        page.context.close()


def snippet_height(snippet: str) -> int:
    return int(re.search(r'height="(\d+)"', snippet).group(1))


def widget(page):
    frame = page.frame_locator("iframe").first
    frame.locator(".sign-form button[type=submit]").wait_for()
    return page.frames[1]


def frame_box(page) -> dict:
    return page.eval_on_selector("iframe", "f => f.getBoundingClientRect().toJSON()")


def inner(frame) -> dict:
    """How the widget fits its frame: the frame's viewport, its content, the Sign button."""
    return frame.evaluate("""() => {
        const button = document.querySelector('.sign-form button[type=submit]');
        const rect = button.getBoundingClientRect();
        return {viewport: window.innerHeight, content: Math.ceil(document.body.getBoundingClientRect().height),
                button_bottom: rect.bottom + window.scrollY,
                button_visible: rect.top >= 0 && rect.bottom <= window.innerHeight};
    }""")


def press_sign(frame) -> None:
    with frame.expect_navigation():
        frame.click(".sign-form button[type=submit]")
    frame.locator(".field-error").first.wait_for()


def assert_fits(frame) -> None:
    fit = inner(frame)
    assert fit["content"] <= fit["viewport"], fit  # no second scroll area
    assert fit["button_visible"], fit


# -- the snippet alone ----------------------------------------------------------------------


def member_snippet(app, people) -> str:
    """The snippet a member copies from /my/organisation (it credits the organisation)."""
    client = login_as(app.test_client(), app, people.member_a)
    overview = client.get("/my/organisation").get_data(as_text=True)
    return html.unescape(re.search(r"<textarea[^>]*>([^<]*)</textarea>", overview).group(1))


def iframe_only(snippet: str) -> str:
    """The snippet without its optional script (a partner's site may strip scripts)."""
    return re.search(r"<iframe .*?</iframe>", snippet).group(0)


@pytest.mark.parametrize("locale", ["en-GB", "de-DE", "ru-RU", "uk-UA", "be-BY"])
def test_the_snippet_fits_the_form_and_its_errors_on_a_phone(
        app, browser, ours, partner, demo, people, locale):
    snippet = member_snippet(app, people)  # credited: the longest form, one more checkbox
    assert snippet.startswith(f'<iframe src="{ours}/petitions/protect-objectors/embed?org=org-a"')
    page = open_page(browser, PHONE, partner.page("plain.html", iframe_only(snippet)), locale)
    try:
        frame = widget(page)
        assert frame_box(page)["height"] - snippet_height(snippet) in (0, 4)  # its border
        assert_fits(frame)
        press_sign(frame)  # nothing filled in: every field says what is missing
        assert frame.locator(".field-error").count() == 5
        assert_fits(frame)
    finally:
        page.context.close()


def test_the_petition_pages_snippet_is_the_same_widget(app, browser, ours, partner, demo):
    snippet = copied_snippet(browser, ours + PETITION)
    assert snippet.startswith(f'<iframe src="{ours}/petitions/protect-objectors/embed"')
    page = open_page(browser, PHONE, partner.page("plain.html", iframe_only(snippet)))
    try:
        frame = widget(page)
        assert_fits(frame)
        press_sign(frame)
        assert_fits(frame)
    finally:
        page.context.close()


# -- with the optional script ----------------------------------------------------------------


def wait_until_fitted(frame) -> dict:
    """Wait for the partner's page to give the frame the widget's height; return the fit."""
    frame.wait_for_function(
        "() => Math.abs(window.innerHeight - document.body.getBoundingClientRect().height) <= 1")
    return inner(frame)


def test_with_the_script_the_frame_takes_the_widgets_height(app, browser, ours, partner, demo, people):
    snippet = member_snippet(app, people)
    assert snippet.endswith(f'<script src="{ours}/static/widget-resize.js" async></script>')
    page = open_page(browser, PHONE, partner.page("auto.html", snippet))
    try:
        frame = widget(page)
        fit = wait_until_fitted(frame)
        assert fit["viewport"] < snippet_height(snippet)  # no empty space below the form
        assert fit["button_visible"]
        press_sign(frame)  # a new page in the frame, taller with its errors: the frame grows
        grown = wait_until_fitted(frame)
        assert grown["viewport"] > fit["viewport"]
        assert_fits(frame)
    finally:
        page.context.close()


def test_the_script_listens_only_to_our_widgets(app, browser, ours, partner, demo, people):
    snippet = member_snippet(app, people)
    # A frame of another origin on the same page claims a height, for itself and the widget.
    partner.page("other.html", '<script>parent.postMessage({objectwar: "widget-height", height: 150}, "*");'
                               "</script>")
    page = open_page(browser, PHONE, partner.page(
        "mixed.html", f'<iframe id="other" src="other.html" height="300"></iframe>{snippet}'))
    try:
        frame = page.frame_locator("iframe[src*=embed]")
        frame.locator(".sign-form button[type=submit]").wait_for()
        widget_frame = next(f for f in page.frames if "/embed" in f.url)
        fitted = wait_until_fitted(widget_frame)
        page.wait_for_timeout(300)
        assert page.eval_on_selector("#other", "f => f.clientHeight") == 300
        assert inner(widget_frame)["viewport"] == fitted["viewport"] > 150
    finally:
        page.context.close()


# -- the widget's text and width ---------------------------------------------------------------


def test_the_credit_sentence_has_one_full_stop(browser, ours, demo):
    page = open_page(browser, PHONE, ours + PETITION + "/embed?org=connection-ev")
    try:
        assert page.inner_text(".sign-form p:has-text('counted for')") == "Your signature is counted for Connection e.V."
    finally:
        page.context.close()


def test_on_a_wide_page_the_fields_keep_to_the_widgets_column(app, browser, ours, partner, demo):
    snippet = copied_snippet(browser, ours + PETITION)
    page = open_page(browser, DESKTOP, partner.page("wide.html", iframe_only(snippet)))
    try:
        frame = widget(page)
        column = frame.eval_on_selector(".widget", "w => w.getBoundingClientRect().width")
        assert column <= 560  # a readable column, not the partner's whole page
        widths = frame.eval_on_selector_all(
            ".sign-form input[type=text]:not(#website), .sign-form input[type=email], .sign-form select, .progress",
            "fields => fields.map(f => f.getBoundingClientRect().width)")
        assert len(widths) == 5
        assert max(widths) <= column
        assert_fits(frame)
    finally:
        page.context.close()
