"""The whole journey of an organisation in a real browser (Chromium through Playwright).

Apply, a coordinator approves, the invitation email (received by a real SMTP
server) sets a password, the member logs in, edits the profile and finds it in
the directory. Skipped where Chromium is not installed.
"""

from __future__ import annotations

import re

import pytest

from objectwar.accounts.services import create_coordinator
from tests.factories import COORDINATOR_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

MEMBER_PASSWORD = "our campaign passphrase"


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.config()


def _watch(page, problems: list[str]) -> None:
    """Collect script errors and CSP violations (a 422 form answer or a missing favicon is fine)."""
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))


def _mail_to(smtp_server, address: str, subject_part: str):
    for message in smtp_server.messages:
        if message["To"] == address and subject_part in message["Subject"]:
            return message
    raise AssertionError(f"no mail to {address} about {subject_part!r}: "
                         f"{[(m['To'], m['Subject']) for m in smtp_server.messages]}")


def test_apply_approve_invite_login_edit_and_see_it(app, browser, live_server, smtp_server):
    with app.test_request_context():
        create_coordinator("coord@campaign.example", COORDINATOR_PASSWORD)
    problems: list[str] = []

    # 1. An organisation applies.
    applicant = browser.new_context(locale="en-GB")
    page = applicant.new_page()
    _watch(page, problems)
    page.goto(f"{live_server}/organisations/apply")
    page.fill("#name", "Refuseniks Support Network")
    page.select_option("#country", "NL")
    page.fill("#city", "Utrecht")
    page.fill("#website", "https://refuseniks.example")
    page.fill("#contact_name", "Sanne de Vries")
    page.fill("#contact_email", "sanne@refuseniks.example")
    page.fill("#description", "Legal help for objectors.")
    page.fill("#reason", "We advise deserters every week.")
    # First without consent: the form comes back with the message at the field.
    page.click("#content button[type=submit]")
    assert "Please agree to the processing of these details." in page.inner_text(".has-error")
    assert page.input_value("#name") == "Refuseniks Support Network"
    page.check("#consent")
    page.click("#content button[type=submit]")
    assert "Thank you for your application" in page.inner_text("h1")
    _mail_to(smtp_server, "sanne@refuseniks.example", "We received your application")
    notice = _mail_to(smtp_server, "coord@campaign.example", "New application")
    assert "/admin/organisations/" in notice.get_body(("plain",)).get_content()

    # 2. A coordinator logs in and approves.
    coordinator = browser.new_context().new_page()
    _watch(coordinator, problems)
    coordinator.goto(f"{live_server}/admin/organisations")
    assert "/account/login" in coordinator.url
    coordinator.fill("#email", "coord@campaign.example")
    coordinator.fill("#password", COORDINATOR_PASSWORD)
    coordinator.click("#content form button[type=submit]")
    assert coordinator.url.endswith("/admin/organisations")
    coordinator.click("text=Refuseniks Support Network")
    assert "We advise deserters every week." in coordinator.content()
    coordinator.click("text=Approve and invite the contact")
    assert "its contact is invited" in coordinator.inner_text(".flashes")

    # 3. The invitation email's link sets the member's password.
    invitation = _mail_to(smtp_server, "sanne@refuseniks.example", "invitation")
    text = invitation.get_body(("plain",)).get_content()
    link = re.search(r"https://objectwar\.test(/account/invitation/\S+)", text).group(1)
    member = applicant.new_page()
    _watch(member, problems)
    member.goto(live_server + link)
    member.fill("#password", MEMBER_PASSWORD)
    member.fill("#confirm", MEMBER_PASSWORD)
    member.click("#content form button[type=submit]")
    assert member.url.endswith("/my/organisation")

    # 4. Log out, log in again with the new password.
    member.click("text=Log out")
    assert "You are logged out." in member.inner_text(".flashes")
    member.goto(f"{live_server}/my/organisation/profile")
    member.fill("#email", "sanne@refuseniks.example")
    member.fill("#password", MEMBER_PASSWORD)
    member.click("#content form button[type=submit]")
    assert member.url.endswith("/my/organisation/profile")  # ?next= followed

    # 5. Edit the profile.
    member.fill("#city", "Amsterdam")
    member.fill("#description", "Free **legal help** for objectors and deserters.")
    member.click("#content form button[type=submit]")
    assert "The profile is saved." in member.inner_text(".flashes")

    # 6. The directory shows it to everyone.
    visitor = browser.new_context().new_page()
    _watch(visitor, problems)
    visitor.goto(f"{live_server}/organisations?country=NL")
    card = visitor.inner_text(".directory")
    assert "Refuseniks Support Network" in card and "Amsterdam" in card
    assert "Free legal help for objectors and deserters." in card
    visitor.click("text=Refuseniks Support Network")
    assert "legal help" in visitor.inner_text("strong")
    assert not problems, problems
