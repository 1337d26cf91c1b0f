"""Every kind of page fits a 360 px phone and has no accessibility violation axe-core finds.

The pages are tests/page_catalogue.py's (derived from the URL map: a new GET page
fails ``test_every_page_is_in_the_catalogue`` until it is listed or excluded).
Each is loaded once with JavaScript on, at 360 px and then 1280 px wide, and
once with JavaScript off for the page (its scripts, all files under the CSP,
are refused; a context with ``java_script_enabled=False`` runs no timers, so
axe-core's ``axe.run`` never finishes there). The document may be no wider than the viewport, axe-core
(from the npm registry, tests/checkers.py) reports no violation, and after a
form error the focus is on the error summary. Skipped where Chromium or
axe-core is not installed.

A page that carries no script is the same document with JavaScript off as with it
on (the CSP allows no inline script or handler): without JavaScript it is checked
for its width and focus, and that it has no script, while axe-core's verdict on
that document comes from the run with JavaScript on. Pages with a script get
axe-core in both. The catalogue is checked in slices, so that test workers share it.
"""

from __future__ import annotations

import contextlib

import pytest
from page_catalogue import (
    APP_OVERRIDES,
    EXCLUDED,
    PAGES,
    REDIRECT_ONLY,
    PageKind,
    World,
    form_fields,
    seed,
    uncatalogued,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.checkers import AXE, missing_axe
from tests.helpers import login_as

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}

# Elements wider than the viewport, for the report (the outermost few).
TOO_WIDE = """width => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > width + 0.5)
  .slice(0, 4)
  .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
       (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
       ' (' + Math.round(el.getBoundingClientRect().right) + ' px)')"""
AXE_RUN = "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({id: v.id, help: v.help, targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"


@pytest.fixture
def app_overrides():
    return APP_OVERRIDES


@pytest.fixture
def axe_source() -> str:
    if reason := missing_axe():
        pytest.skip(reason)
    return AXE.read_text(encoding="utf-8")


def test_every_page_is_in_the_catalogue(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = uncatalogued(app)
    assert not missing, ("GET endpoints neither in tests/page_catalogue.py's PAGES nor in its "
                         f"EXCLUDED: {missing}")
    assert {page.endpoint for page in PAGES} <= endpoints
    assert not (set(EXCLUDED) | set(REDIRECT_ONLY)) & {page.endpoint for page in PAGES}
    assert len({page.name for page in PAGES}) == len(PAGES)


def _contexts(browser, app, live_server: str, world: World, javascript: bool):
    """One browser context per role, logged in by its session cookie."""
    contexts = {}
    for role, user_id in world.users.items():
        context = browser.new_context(viewport=PHONE, locale="en-GB")
        if not javascript:
            # Our scripts are all files (the CSP allows no inline script): refusing them is
            # JavaScript off for the page, while axe-core, which needs timers, still runs.
            # (In a context with ``java_script_enabled=False`` ``axe.run`` never finishes.)
            context.route("**/*.js", lambda route: route.abort())
        if user_id is not None:
            client = login_as(app.test_client(), app, user_id)
            cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
            context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server}])
        contexts[role] = context
    return contexts


def _open(context, app, live_server: str, page_kind: PageKind, world: World):
    """A tab showing the page (for a POST: the answer, as the form would get it)."""
    page = context.new_page()
    url = live_server + page_kind.url(app, world)
    if page_kind.leaves_for:
        # The page goes on to another host: a 204 there leaves the browser on ours.
        page.route(page_kind.leaves_for + "**", lambda route: route.fulfill(status=204))
    if page_kind.post is None:
        return page, page.goto(url, wait_until="load")
    form = context.request.get(url)
    fields = form_fields(page_kind, world, form.text())
    target = live_server + page_kind.target(app, world)
    body, content_type = _encode(fields, page_kind.files or {})

    def as_post(route):
        route.continue_(method="POST", post_data=body,
                        headers={**route.request.headers, "content-type": content_type})

    page.route(target, as_post)
    response = page.goto(target, wait_until="load")
    page.unroute(target)
    return page, response


def _encode(fields: dict[str, str], files: dict) -> tuple[bytes, str]:
    from urllib.parse import urlencode

    if not files:
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    boundary = "----objectwar-a11y-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (filename, content, kind) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
                     + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _check(page, viewport: dict, label: str, problems: list[str]) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > viewport["width"]:
        wide = page.evaluate(TOO_WIDE, viewport["width"])
        problems.append(f"{label}: {width} px wide at {viewport['width']} px: {', '.join(wide)}")


SLICES = 3  # the catalogue in this many parts per mode, one test each


def _check_pages(browser, app, live_server: str, world: World, axe_source: str,
                 javascript: bool, part: int) -> list[str]:
    mode = "JavaScript on" if javascript else "JavaScript off"
    contexts = _contexts(browser, app, live_server, world, javascript)
    problems: list[str] = []
    try:
        for page_kind in PAGES[part::SLICES]:
            label = f"{page_kind.name} ({mode})"
            page, response = _open(contexts[page_kind.role], app, live_server, page_kind, world)
            try:
                if response is None or response.status != page_kind.status:
                    problems.append(f"{label}: answered {response and response.status}, "
                                    f"expected {page_kind.status}")
                    continue
                _check(page, PHONE, label, problems)
                # Without JavaScript, a page with no script is the document checked with it.
                if javascript or page.locator("script").count():
                    page.evaluate(axe_source)
                    for violation in page.evaluate(AXE_RUN):
                        problems.append(f"{label}: axe {violation['id']}: {violation['help']} "
                                        f"{violation['targets']}")
                if page.locator("#error-summary").count():
                    # autofocus is applied by a later rendering step, not by the load event.
                    with contextlib.suppress(PlaywrightTimeout):
                        page.wait_for_function(
                            "document.activeElement && document.activeElement.id === 'error-summary'",
                            timeout=10_000)
                    focused = page.evaluate("document.activeElement && document.activeElement.id")
                    if focused != "error-summary":
                        problems.append(f"{label}: the focus is on #{focused}, not the error summary")
                if javascript:
                    page.set_viewport_size(DESKTOP)
                    _check(page, DESKTOP, label, problems)
            finally:
                page.close()
    finally:
        for context in contexts.values():
            context.close()
    return problems


@pytest.mark.parametrize("part", range(SLICES))
def test_every_page_with_javascript(app, browser, live_server, people, axe_source, part):
    world = seed(app, people)
    problems = _check_pages(browser, app, live_server, world, axe_source, javascript=True, part=part)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.parametrize("part", range(SLICES))
def test_every_page_without_javascript(app, browser, live_server, people, axe_source, part):
    world = seed(app, people)
    problems = _check_pages(browser, app, live_server, world, axe_source, javascript=False, part=part)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_the_slices_cover_the_catalogue_once():
    parts = [PAGES[part::SLICES] for part in range(SLICES)]
    assert sorted(page.name for part in parts for page in part) == sorted(page.name for page in PAGES)


def test_the_pages_with_form_errors_have_a_summary_linking_to_each_field(app, people):
    """A page re-rendered with field errors starts with the summary; its links lead to the fields."""
    import re

    from page_catalogue import fetch

    world = seed(app, people)
    for page_kind in PAGES:
        if page_kind.status != 422 or page_kind.endpoint == "petitions.embed":
            continue
        client = login_as(app.test_client(), app, world.users[page_kind.role])
        html = fetch(client, app, page_kind, world).get_data(as_text=True)
        main = html[html.index('<main id="content"'):]
        if 'aria-invalid="true"' not in main:
            continue  # an error of the whole form (a wrong password): said above the form
        assert 'id="error-summary"' in main[:main.index("<h1")], page_kind.name
        summary = main[main.index('id="error-summary"'):main.index("</div>", main.index('id="error-summary"'))]
        targets = re.findall(r'href="#([^"]+)"', summary)
        assert targets, page_kind.name
        for target in targets:
            assert f'id="{target}"' in html, f"{page_kind.name}: no field #{target}"
