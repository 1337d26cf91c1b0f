"""Coordinators' pages for mailing lists: lists, subscribers, unsubscribe and delete, CSV import and export."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from objectwar import security
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from tests.factories import add_subscribers, address
from tests.helpers import confirm_import, csrf_token, login_as, subscription_of, upload, upload_ref

LISTS = "/admin/lists"
UPDATES = "/admin/lists/updates"
IMPORT = "/admin/lists/updates/import"


def actions(app) -> list[str]:
    with app.app_context():
        return list(_db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def seed(app, count: int = 3, status=SubscriptionStatus.SUBSCRIBED) -> None:
    with app.app_context():
        mailing_list = _db.session.scalar(select(MailingList).where(MailingList.slug == "updates"))
        add_subscribers(mailing_list, range(count), status=status)
        _db.session.commit()


def test_access_by_role(app, client, people, demo):
    assert client.get(LISTS).headers["Location"].startswith("/account/login?next=")
    member = login_as(app.test_client(), app, people.member_a)
    for path in (LISTS, UPDATES, IMPORT, UPDATES + "/export.csv"):
        assert member.get(path).status_code == 403
    assert login_as(app.test_client(), app, people.coordinator).get(LISTS).status_code == 200


def test_index_create_and_edit(app, auth, people, demo):
    coordinator = auth.coordinator()
    seed(app, 2)
    page = coordinator.get(LISTS).get_data(as_text=True)
    assert "Campaign updates" in page and "<td>2</td>" in page
    assert "<script" not in page and "style=" not in page

    token = csrf_token(coordinator, LISTS)
    bad = coordinator.post(LISTS, data={"csrf_token": token, "slug": "Bad Slug!", "name": ""})
    assert bad.status_code == 422
    assert "This field is required." in bad.get_data(as_text=True)
    taken = coordinator.post(LISTS, data={"csrf_token": token, "slug": "updates", "name": "Again"})
    assert taken.status_code == 422
    assert "exists already" in taken.get_data(as_text=True)

    created = coordinator.post(LISTS, data={"csrf_token": token, "slug": "press", "name": "Press",
                                            "description": "For journalists", "public": "y"})
    assert created.status_code == 302 and created.headers["Location"] == "/admin/lists/press"
    assert coordinator.get("/lists/press/subscribe").status_code == 200

    edited = coordinator.post("/admin/lists/press", data={"csrf_token": token, "name": "Press room",
                                                         "description": "Journalists only"})
    assert edited.status_code == 302
    with app.app_context():
        press = _db.session.scalar(select(MailingList).where(MailingList.slug == "press"))
        assert (press.name, press.description, press.public) == ("Press room", "Journalists only", False)
    assert coordinator.get("/lists/press/subscribe").status_code == 404
    assert actions(app) == ["list.create", "list.update"]


def test_subscribers_with_status_and_search(app, auth, people, demo):
    coordinator = auth.coordinator()
    seed(app, 3)
    page = coordinator.get(UPDATES).get_data(as_text=True)
    for index in range(3):
        assert address(index) in page
    assert "subscribed" in page and "test" in page  # status and source
    found = coordinator.get(UPDATES, query_string={"q": "  PERSON00001@example.org "})
    html = found.get_data(as_text=True)
    assert address(1) in html and address(0) not in html and address(2) not in html
    missing = coordinator.get(UPDATES, query_string={"q": "nobody@example.org"}).get_data(as_text=True)
    assert "No subscriber with this address." in missing


def test_pagination(app, auth, people, demo):
    coordinator = auth.coordinator()
    seed(app, 55)
    first = coordinator.get(UPDATES).get_data(as_text=True)
    second = coordinator.get(UPDATES, query_string={"page": 2}).get_data(as_text=True)
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    shown = [len(re.findall(r"person\d{5}@example\.org", html)) for html in (first, second)]
    assert shown == [50, 5]


def test_unsubscribe_one(app, auth, people, demo):
    coordinator = auth.coordinator()
    seed(app, 2)
    subscription = subscription_of(app, address(0))
    url = f"{UPDATES}/subscriptions/{subscription.id}/unsubscribe"
    assert coordinator.post(url, data={"csrf_token": csrf_token(coordinator, UPDATES)}).status_code == 302
    assert subscription_of(app, address(0)).status == SubscriptionStatus.UNSUBSCRIBED
    assert subscription_of(app, address(1)).status == SubscriptionStatus.SUBSCRIBED
    assert actions(app) == ["list.unsubscribe"]
    # Not on another list's address.
    with app.app_context():
        _db.session.add(MailingList(slug="other", name="Other"))
        _db.session.commit()
    other = f"/admin/lists/other/subscriptions/{subscription.id}/unsubscribe"
    assert coordinator.post(other, data={"csrf_token": csrf_token(coordinator, UPDATES)}).status_code == 404


def test_delete_one_asks_first(app, auth, people, demo):
    coordinator = auth.coordinator()
    seed(app, 2)
    subscription = subscription_of(app, address(0))
    url = f"{UPDATES}/subscriptions/{subscription.id}/delete"
    confirm = coordinator.get(url)
    assert confirm.status_code == 200 and address(0) in confirm.get_data(as_text=True)
    assert subscription_of(app, address(0)) is not None  # the GET changes nothing
    assert coordinator.post(url, data={"csrf_token": csrf_token(coordinator, url)}).status_code == 302
    assert subscription_of(app, address(0)) is None
    assert subscription_of(app, address(1)) is not None
    assert actions(app) == ["list.delete_subscription"]


# -- CSV import ---------------------------------------------------------------------------------


CSV = ("Email;Name;Country;Locale;Notes\n"
       "new@example.org;New Person;DE;de;x\n"
       "broken-address;Broken;FR;fr;\n"
       "formula@example.org;=cmd|' /C calc'!A0;DE;en;\n"
       "left@example.org;Left;UA;uk;\n")


def add_unsubscribed(app, email: str = "left@example.org") -> None:
    with app.app_context():
        mailing_list = _db.session.scalar(select(MailingList).where(MailingList.slug == "updates"))
        person = Subscriber(email_digest=security.email_digest(email), email=email, locale="en")
        _db.session.add(person)
        _db.session.flush()
        _db.session.add(Subscription(list_id=mailing_list.id, subscriber_id=person.id,
                                     status=SubscriptionStatus.UNSUBSCRIBED, source="link"))
        _db.session.commit()


def test_import_preview_then_result(app, auth, people, demo, outbox):
    coordinator = auth.coordinator()
    add_unsubscribed(app)
    preview = upload(coordinator, CSV, "supporters 2026.csv")
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "supporters_2026.csv: 4 rows." in page
    assert "from the column “Email”" in page and "Notes" in page  # the mapping, the ignored column
    assert "new@example.org" in page and "broken-address" in page
    assert "<script" not in page and "style=" not in page
    assert subscription_of(app, "new@example.org") is None  # a preview imports nothing

    result = confirm_import(coordinator, page)
    assert result.status_code == 200
    html = result.get_data(as_text=True)
    assert "This does not look like an email address." in html
    assert re.search(r"<td>3</td>\s*<td>broken-address</td>", html)  # the line as a spreadsheet shows it

    new = subscription_of(app, "new@example.org")
    assert new.status == SubscriptionStatus.SUBSCRIBED and new.consented_at is not None
    assert new.source == f"import:supporters_2026.csv by {people.coordinator}"
    with app.app_context():
        person = _db.session.get(Subscriber, new.subscriber_id)
        assert (person.name, person.locale, person.country) == ("New Person", "de", "DE")
    # Someone who unsubscribed is not subscribed again by an import.
    assert subscription_of(app, "left@example.org").status == SubscriptionStatus.UNSUBSCRIBED
    assert subscription_of(app, "broken-address") is None
    assert "list.import" in actions(app)
    assert not outbox  # the coordinator stated consent: no confirmation emails
    # The upload is used once.
    assert confirm_import(coordinator, page).status_code == 422


def test_import_without_consent_box_imports_nothing(app, auth, people, demo):
    coordinator = auth.coordinator()
    page = upload(coordinator, CSV).get_data(as_text=True)
    refused = confirm_import(coordinator, page, consent=False)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Tick this box" in html
    assert 'class="field checkbox has-error"' in html
    assert subscription_of(app, "new@example.org") is None
    assert "list.import" not in actions(app)
    # The preview is shown again: ticking the box now imports.
    assert confirm_import(coordinator, html).status_code == 200
    assert subscription_of(app, "new@example.org") is not None


@pytest.mark.parametrize(("content", "message"), [
    ("name,country\nA,DE\n", "one of them must be “email”"),
    ("email\n", "no rows below its header"),
    ("", "The file is empty."),
])
def test_unusable_files(app, auth, people, demo, content, message):
    coordinator = auth.coordinator()
    response = upload(coordinator, content)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_not_utf8(app, auth, people, demo):
    coordinator = auth.coordinator()
    token = csrf_token(coordinator, IMPORT)
    response = coordinator.post(IMPORT, data={"csrf_token": token, "file": (
        io.BytesIO("email,name\nb@example.org,Bj\xf6rn\n".encode("latin-1")), "x.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "UTF-8" in response.get_data(as_text=True)


def test_an_upload_belongs_to_its_list(app, auth, people, demo):
    coordinator = auth.coordinator()
    page = upload(coordinator, CSV).get_data(as_text=True)
    with app.app_context():
        _db.session.add(MailingList(slug="other", name="Other"))
        _db.session.commit()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = coordinator.post("/admin/lists/other/import/confirm",
                                data={"csrf_token": token, "upload": upload_ref(page), "consent": "y"})
    assert response.status_code == 422
    assert "This upload has expired." in response.get_data(as_text=True)


# -- export ----------------------------------------------------------------------------------------


def test_export_neutralises_formulas_and_is_audited(app, auth, people, demo):
    coordinator = auth.coordinator()
    add_unsubscribed(app)
    page = upload(coordinator, CSV).get_data(as_text=True)
    confirm_import(coordinator, page)
    listing = coordinator.get(UPDATES).get_data(as_text=True)
    assert 'href="/admin/lists/updates/export.csv"' in listing
    response = coordinator.get(UPDATES + "/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_email = {row["email"]: row for row in rows}
    assert by_email["formula@example.org"]["name"] == "'=cmd|' /C calc'!A0"
    assert by_email["new@example.org"]["status"] == "subscribed"
    assert by_email["left@example.org"]["status"] == "unsubscribed"
    assert "broken-address" not in by_email
    assert actions(app)[-1] == "list.export"
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "list.export")) == 1


def test_comma_separated_with_quotes(app, auth, people, demo):
    coordinator = auth.coordinator()
    page = upload(coordinator, 'e-mail,name\r\n"q@example.org","Doe, Jane"\r\n').get_data(as_text=True)
    assert "Doe, Jane" in page
    assert confirm_import(coordinator, page).status_code == 200
    with app.app_context():
        person = _db.session.get(Subscriber, subscription_of(app, "q@example.org").subscriber_id)
        assert person.name == "Doe, Jane"
