"""A petition from creation to handover, in a real browser (Chromium through Playwright).

A coordinator writes a petition in English and German in the admin, previews
the German, and opens it. A visitor signs it in German through a partner
organisation, agreeing that the partner may contact them, and confirms from the
email a real SMTP server received. The petition's count by country, the
coordinator's statistics and the handover export, and the partner's own export
all show the signature. Skipped where Chromium is not installed.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from objectwar.accounts.services import create_coordinator
from objectwar.extensions import db as _db
from tests.factories import (
    COORDINATOR_PASSWORD,
    MEMBER_PASSWORD,
    add_member_organisation,
    add_member_user,
)
from tests.helpers import log_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


@pytest.fixture
def app_overrides(smtp_server):
    return {**smtp_server.config(), "SIGN_MIN_FILL_SECONDS": 0, "PUBLIC_COUNTRY_MINIMUM": 1}


def _csv(context, url: str) -> list[dict[str, str]]:
    response = context.request.get(url)
    assert response.status == 200, response.status
    return list(csv.DictReader(io.StringIO(response.text().lstrip("\ufeff"))))


def test_a_petition_from_the_admin_to_the_handover(app, browser, live_server, smtp_server):
    with app.test_request_context():
        create_coordinator("coord@campaign.example", COORDINATOR_PASSWORD)
        partner = add_member_organisation("connection-ev", "Connection e.V.", "DE")
        add_member_user(partner, "rudi@connection.example")
        _db.session.commit()
    problems: list[str] = []

    # 1. A coordinator writes the petition in English ...
    context = browser.new_context(locale="en-GB")
    admin = context.new_page()
    admin.on("pageerror", lambda error: problems.append(str(error)))
    log_in_browser(admin, live_server, "/admin/petitions", "coord@campaign.example", COORDINATOR_PASSWORD)
    admin.click("text=New petition")
    admin.fill("[name=slug]", "asylum-for-objectors")
    admin.fill("[name=goal]", "5000")
    admin.fill("[name='texts.en.title']", "Asylum for objectors")
    admin.fill("[name='texts.en.summary']", "Protection for those who refuse to fight.")
    admin.fill("[name='texts.en.body_markdown']", "Deserters risk **prison** at home.")
    admin.fill("[name='demands.0.texts.en.title']", "Humanitarian visas")
    admin.click("button[value=add_demand]")
    admin.fill("[name='demands.1.texts.en.title']", "No deportations")
    admin.click("button[value=save] >> nth=0")
    assert "saved as a draft" in admin.inner_text(".flashes")
    # ... then in German, beside the English
    admin.click("nav[aria-label='Languages of the petition'] a:text('Deutsch')")
    assert admin.input_value("[name='texts.en.title']") == "Asylum for objectors"
    admin.fill("[name='texts.de.title']", "Asyl für Verweigerer")
    admin.fill("[name='texts.de.summary']", "Schutz für alle, die nicht kämpfen wollen.")
    admin.fill("[name='demands.0.texts.de.title']", "Humanitäre Visa")
    admin.fill("[name='demands.1.texts.de.title']", "Keine Abschiebungen")
    admin.click("button[value=preview] >> nth=0")
    assert admin.inner_text("h1") == "Asyl für Verweigerer"
    assert "Unsere Forderungen" in admin.inner_text("#content")  # as a German visitor sees it
    admin.click("button[value=save]")
    assert "The petition is saved." in admin.inner_text(".flashes")
    admin.click("text=Open the petition")
    admin.click("#content form button[type=submit]")
    assert "The petition is open" in admin.inner_text(".flashes")

    # 2. A visitor signs in German, through the partner, agreeing to its contact.
    visitor = browser.new_context(locale="de-DE").new_page()
    visitor.on("pageerror", lambda error: problems.append(str(error)))
    visitor.goto(f"{live_server}/petitions/asylum-for-objectors?org=connection-ev")
    assert visitor.inner_text("h1") == "Asyl für Verweigerer"
    visitor.fill("#first_name", "Olena")
    visitor.fill("#last_name", "Kowalenko")
    visitor.fill("#email", "olena@example.org")
    visitor.select_option("#country", "DE")
    visitor.check("[name=partner_consent]")
    visitor.check("[name=consent]")
    visitor.click("form.sign-form button[type=submit]")
    (message,) = [m for m in smtp_server.messages if m["To"] == "olena@example.org"]
    link = re.search(r"https?://\S+/confirm/\S+", message.get_body(("plain",)).get_content()).group(0)
    visitor.goto(live_server + link[link.index("/petitions/"):])
    visitor.click("#content form button[type=submit]")
    visitor.goto(f"{live_server}/petitions/asylum-for-objectors")
    assert "1 Unterschrift" in visitor.inner_text(".counter")
    assert "Deutschland" in visitor.inner_text(".by-country")

    # 3. The coordinator sees it in the statistics and hands it over.
    admin.goto(f"{live_server}/admin/petitions/asylum-for-objectors")
    assert "Connection e.V.\t1" in admin.inner_text("#content")  # the table by partner
    admin.click("text=Handover export")
    with admin.expect_download() as download:
        admin.click("#content form button[type=submit]")
    with open(download.value.path(), encoding="utf-8-sig") as file:
        handover = list(csv.DictReader(file))
    assert [(row["first_name"], row["last_name"], row["country"], row["organisation"])
            for row in handover] == [("Olena", "Kowalenko", "DE", "connection-ev")]

    # 4. The partner finds the signer who agreed to its contact in its own export.
    member = browser.new_context(locale="de-DE")
    log_in_browser(member.new_page(), live_server, "/my/organisation", "rudi@connection.example", MEMBER_PASSWORD)
    rows = _csv(member, f"{live_server}/my/organisation/signatures.csv")
    assert len(rows) == 1 and "olena@example.org" in rows[0].values()
    assert problems == []
