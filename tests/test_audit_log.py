"""``/admin/audit``: coordinators read who did what, filtered and paged; no address shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from objectwar.audit import services as audit
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from tests.helpers import login_as


@pytest.fixture
def log(app, people):
    """Events by the coordinator and a member over three days, one with an address in it."""
    with app.app_context():
        day = datetime(2026, 11, 20, 12, tzinfo=UTC)
        events = [
            AuditEvent(actor_id=people.coordinator, action="organisation.approve",
                       target_type="organisation", target_id=people.org_b, created_at=day,
                       details={"changes": {"status": ["applied", "member"]}}),
            AuditEvent(actor_id=people.member_a, action="organisation.update",
                       target_type="organisation", target_id=people.org_a,
                       created_at=day + timedelta(days=1),
                       details={"changes": {"contact_email": ["old@a.example", "new@a.example"]}}),
            AuditEvent(actor_id=None, action="privacy.erase", target_type="data",
                       created_at=day + timedelta(days=2), details={"signatures": 1}),
        ]
        _db.session.add_all(events)
        _db.session.commit()
    return people


def page(client, **args) -> tuple[int, str]:
    response = client.get("/admin/audit", query_string=args)
    return response.status_code, response.get_data(as_text=True)


def rows(html: str) -> str:
    return html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def test_a_coordinator_sees_every_event_newest_first_and_no_address(app, client, log):
    login_as(client, app, log.coordinator)
    status, html = page(client)
    assert status == 200
    table = rows(html)
    assert table.index("privacy.erase") < table.index("organisation.update") < table.index(
        "organisation.approve")
    assert "old@a.example" not in table and "new@a.example" not in table and audit.MASK in table
    assert "coord@campaign.example" in table  # who approved


def test_filters_by_actor_action_object_and_period(app, client, log):
    login_as(client, app, log.coordinator)
    assert "organisation.update" in rows(page(client, actor=log.member_a)[1])
    assert "organisation.approve" not in rows(page(client, actor=log.member_a)[1])
    assert "privacy.erase" not in rows(page(client, action="organisation.approve")[1])
    by_object = rows(page(client, target_type="organisation", target_id=log.org_b)[1])
    assert "organisation.approve" in by_object and "organisation.update" not in by_object
    one_day = rows(page(client, since="2026-11-21", until="2026-11-21")[1])
    assert "organisation.update" in one_day
    assert "organisation.approve" not in one_day and "privacy.erase" not in one_day


def test_pages_of_older_events(app, client, log):
    with app.app_context():
        first, more = audit.find(audit.AuditQuery(), limit=2)
        assert [event.action for event in first] == ["privacy.erase", "organisation.update"]
        rest, end = audit.find(audit.AuditQuery(before=more), limit=2)
        assert [event.action for event in rest] == ["organisation.approve"] and end is None
    login_as(client, app, log.coordinator)
    assert "Older events" not in page(client)[1]  # three events: one page


@pytest.mark.parametrize("args, field", [
    ({"since": "20.11.2026"}, "since"),
    ({"target_id": "x1"}, "target_id"),
    ({"since": "2026-11-22", "until": "2026-11-20"}, "until"),
])
def test_a_malformed_filter_is_refused_at_its_field(app, client, log, args, field):
    login_as(client, app, log.coordinator)
    status, html = page(client, **args)
    assert status == 422
    assert f'id="{field}-error"' in html and 'aria-invalid="true"' in html


def test_members_and_strangers_are_kept_out(app, client, log):
    assert client.get("/admin/audit").status_code == 302
    login_as(client, app, log.member_a)
    assert client.get("/admin/audit").status_code == 403


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_log_fits_a_phone_and_filters_without_javascript(app, browser, live_server, log):
    from tests.factories import COORDINATOR_PASSWORD

    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/admin/audit")
        page.fill("#email", "coord@campaign.example")
        page.fill("#password", COORDINATOR_PASSWORD)
        page.click("#content form button[type=submit]")
        assert page.url.endswith("/admin/audit")
        page.wait_for_load_state("load")  # the stylesheet applied, however busy the machine
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.select_option("select[name=action]", "organisation.update")
        page.click("form.filters button[type=submit]")
        text = page.inner_text("table.audit tbody")
        assert "organisation.update" in text and "organisation.approve" not in text
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()


def test_the_audit_log_imports_no_accounts():
    """The log holds actors by id; the admin page joins their addresses."""
    import ast
    from pathlib import Path

    import objectwar

    for path in (Path(objectwar.__file__).parent / "audit").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [])
            assert not any(name.startswith("objectwar.accounts") for name in names), path.name
