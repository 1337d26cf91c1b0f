"""The pages in a real browser (Chromium through Playwright)."""

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.sqlite_only
def test_home_page_and_language_switch(browser, live_server, demo):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    try:
        requests_elsewhere = []
        page.on("request", lambda r: None if r.url.startswith(live_server) else requests_elsewhere.append(r.url))
        page.goto(live_server + "/", wait_until="load")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("heading", name="Protection for those who refuse to fight").is_visible()
        page.get_by_role("link", name="Deutsch").click()
        page.wait_for_load_state("load")
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.get_by_text("Schutz und Asyl für alle, die sich dem Krieg verweigern").is_visible()
        assert page.get_by_role("heading", name="Schutz für alle, die sich weigern zu kämpfen").is_visible()
        # The choice sticks: the next page is in German without ?lang=.
        page.goto(live_server + "/petitions/protect-objectors", wait_until="load")
        assert page.locator("html").get_attribute("lang") == "de"
        # Nothing is wider than a phone's screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360
        assert requests_elsewhere == []
    finally:
        page.close()
