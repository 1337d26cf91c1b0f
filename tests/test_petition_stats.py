"""A petition's statistics for coordinators: checked against hand-counted signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from objectwar.accounts.services import create_api_token
from objectwar.extensions import db as _db
from objectwar.petitions import signing, stats
from objectwar.petitions.models import Signature
from objectwar.petitions.services import get_petition
from tests.signing_support import SLUG, person

# Just before and just after midnight UTC: two different days, whatever the server's zone.
LATE = datetime(2026, 11, 20, 23, 59, 30, tzinfo=UTC)
EARLY = datetime(2026, 11, 21, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def signed(app, demo, people):
    """Five signers: DE through org-a (confirmed after midnight), DE and BY confirmed on
    the day they signed, PL and one more DE never confirmed."""
    with app.test_request_context("/"):
        plan = [("de1@example.org", "DE", "org-a", LATE, EARLY),
                ("de2@example.org", "DE", None, LATE, LATE),
                ("by1@example.org", "BY", None, EARLY, EARLY),
                ("pl1@example.org", "PL", None, EARLY, None),
                ("de3@example.org", "DE", "org-a", EARLY, None)]
        for email, country, organisation, created, confirmed in plan:
            outcome = signing.sign(SLUG, person(email=email, country=country,
                                                organisation=organisation), default_locale="en")
            if confirmed is not None:
                signature = _db.session.get(Signature, outcome.signature_id)
                signing.confirm(SLUG, signing.confirmation_token(signature))
            _db.session.execute(update(Signature).where(Signature.id == outcome.signature_id)
                                .values(created_at=created, confirmed_at=confirmed))
            _db.session.commit()
        return create_api_token("coord@campaign.example", "stats")


def test_stats_count_by_utc_day_country_and_partner(app, signed):
    with app.app_context():
        numbers = stats.petition_stats(get_petition(SLUG))
    assert numbers["confirmed"] == 3 and numbers["unconfirmed"] == 2
    assert numbers["confirmation_rate"] == 0.6
    assert numbers["by_day"] == [
        {"date": "2026-11-20", "signed": 2, "confirmed": 1},
        {"date": "2026-11-21", "signed": 3, "confirmed": 2},
    ]
    assert numbers["by_country"] == {"DE": 2, "BY": 1}  # every country, nothing folded
    assert numbers["by_organisation"] == {"org-a": 1}  # confirmed ones only


def test_the_stats_endpoint_is_for_coordinators(app, client, signed, people):
    assert client.get(f"/api/v1/petitions/{SLUG}/stats").status_code == 401
    with app.app_context():
        member_token = create_api_token("alice@a.example", "member")
    answer = client.get(f"/api/v1/petitions/{SLUG}/stats",
                        headers={"Authorization": f"Bearer {member_token}"})
    assert answer.status_code == 403
    answer = client.get(f"/api/v1/petitions/{SLUG}/stats",
                        headers={"Authorization": f"Bearer {signed}"})
    assert answer.status_code == 200
    assert answer.get_json()["by_country"] == {"DE": 2, "BY": 1}
    missing = client.get("/api/v1/petitions/no-such-petition/stats",
                         headers={"Authorization": f"Bearer {signed}"})
    assert missing.status_code == 404 and "errors" in missing.get_json()


def test_a_petition_without_signatures_has_no_rate(app, demo):
    with app.app_context():
        petition = get_petition(SLUG)
        numbers = stats.petition_stats(petition)
    assert numbers["confirmation_rate"] is None and numbers["by_day"] == []


# -- the admin pages ------------------------------------------------------------------


def test_the_dashboard_lists_petitions_lists_and_mailouts_with_a_chart(app, client, signed, people, auth):

    auth.coordinator()
    html = client.get("/admin/").get_data(as_text=True)
    assert "Protection and asylum" in html or SLUG in html
    assert f"/admin/petitions/{SLUG}/days.svg" in html
    petitions_page = client.get("/admin/petitions").get_data(as_text=True)
    assert f"/admin/petitions/{SLUG}" in petitions_page


def test_the_stats_page_gives_the_numbers_of_the_chart(app, client, signed, people, auth):

    auth.coordinator()
    html = client.get(f"/admin/petitions/{SLUG}").get_data(as_text=True)
    assert "2026-11-20" in html and "2026-11-21" in html and "60%" in html
    assert "Belarus" in html  # coordinators see every country
    chart = client.get(f"/admin/petitions/{SLUG}/days.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert "<svg" in svg and "2026-11-21" in svg
    assert "<script" not in svg and "kozea.github.io" not in svg
    assert "script-src" not in chart.headers["Content-Security-Policy"]  # default-src 'none'


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_chart_is_drawn_without_javascript_and_the_pages_fit_a_phone(
        app, browser, live_server, signed):
    from tests.factories import COORDINATOR_PASSWORD

    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server) else elsewhere.append(r.url))
    try:
        page.goto(f"{live_server}/admin/")
        page.fill("#email", "coord@campaign.example")
        page.fill("#password", COORDINATOR_PASSWORD)
        page.click("#content form button[type=submit]")
        assert page.url.endswith("/admin/")
        for path in ("/admin/", "/admin/petitions", f"/admin/petitions/{SLUG}", "/admin/audit",
                     "/admin/petitions/new", f"/admin/petitions/{SLUG}/edit?locale=de",
                     f"/admin/petitions/{SLUG}/preview?locale=uk"):
            page.goto(live_server + path, wait_until="load")
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(f"{live_server}/admin/petitions/{SLUG}", wait_until="load")
        chart = page.locator("figure.chart img")
        assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
        assert elsewhere == []
    finally:
        context.close()


def test_the_dashboard_shows_the_growth_of_the_updates_list(app, client, demo, people, auth):
    from objectwar.mailing import list_admin
    from objectwar.mailing.subscribe import subscribe_confirmed

    with app.app_context():
        for number in range(3):
            subscribe_confirmed("updates", email=f"reader{number}@example.org", name=None,
                                locale="en", country="DE", source="test",
                                consented_at=datetime.now(UTC))
        _db.session.commit()
        growth = list_admin.growth("updates")
    assert growth == [{"date": datetime.now(UTC).date().isoformat(), "joined": 3}]
    auth.coordinator()
    assert "New subscribers to the updates list" in client.get("/admin/").get_data(as_text=True)
