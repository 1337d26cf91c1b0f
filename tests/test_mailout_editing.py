"""Mail-outs a coordinator can work with: edit a draft, duplicate, cancel one
that finished meanwhile, the test mail's sample name and unsubscribe link, the progress
figures that refresh themselves (a script of ours, no meta refresh) or by a link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from objectwar.extensions import db as _db
from objectwar.mailing.models import (
    Delivery,
    DeliveryStatus,
    Mailout,
    MailoutStatus,
    Subscription,
    SubscriptionStatus,
)
from objectwar.mailouts import compose, editing, queries, status, sweep
from tests.factories import COORDINATOR_EMAIL, COORDINATOR_PASSWORD, new_mailout
from tests.helpers import audited, count, csrf_token, log_in_browser, post, status_of

REPLY_CHOICES = ["Campaign team <team@objectwar.test>", "press@objectwar.test"]


@pytest.fixture
def app_overrides(relay):
    return {**relay.config(), "MAILOUT_BATCH_SIZE": 5, "MAILOUT_RATE_PER_MINUTE": 1_000_000,
            "MAIL_FROM_CHOICES": REPLY_CHOICES}


def texts_of(app, mailout_id: int) -> dict[str, tuple[str, str]]:
    with app.app_context():
        found = _db.session.get(Mailout, mailout_id)
        return {text.locale: (text.subject, text.body_markdown) for text in found.texts}


# -- editing a draft ------------------------------------------------------------------


def test_the_edit_form_shows_the_draft_and_saves_every_field(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    edit = f"/admin/mailouts/{mailout_id}/edit"
    page = coordinator.get(edit).get_data(as_text=True)
    assert 'value="News of the campaign"' in page and "Hello {{ name }}," in page
    assert 'value="Neuigkeiten"' in page and 'value="1000000"' in page
    assert f'href="{edit}"' in coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)

    answer = post(coordinator, edit, {
        "list": "updates", "locale": "en", "subject": "Better news",
        "body_markdown": "Dear {{ name }}, *thank you*.",
        "subject_ru": "Новости", "body_ru": "Привет, {{ name }}",  # a translation added
        "subject_de": "", "body_de": "",  # and one removed
        "countries": ["FR"], "locales": ["de"], "rate_per_minute": "60",
    }, form_page=edit)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/admin/mailouts/{mailout_id}")
    assert texts_of(app, mailout_id) == {"en": ("Better news", "Dear {{ name }}, *thank you*."),
                                         "ru": ("Новости", "Привет, {{ name }}")}
    with app.app_context():
        found = _db.session.get(Mailout, mailout_id)
        assert (found.audience_countries, found.audience_locales, found.rate_per_minute,
                found.recipients, found.status) == (["FR"], ["de"], 60, 2, MailoutStatus.DRAFT)
    page = coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)
    assert "Better news" in page and "<em>thank you</em>" in page and "2 people would get it now." in page
    events = audited(app, "mailout.update")
    assert [(e.actor_id, e.target_id, e.details["locales"]) for e in events] == [
        (people.coordinator, mailout_id, ["en", "ru"])]


def test_edit_errors_stay_at_the_fields_and_change_nothing(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    edit = f"/admin/mailouts/{mailout_id}/edit"
    answer = post(coordinator, edit, {"list": "updates", "locale": "en", "subject": "",
                                      "body_markdown": "Still here", "subject_de": "Nur Betreff",
                                      "rate_per_minute": "0"}, form_page=edit)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    for field_id in ("subject", "body_de", "rate_per_minute"):
        assert f'id="{field_id}-error"' in html, field_id
    assert "Still here" in html and 'value="Nur Betreff"' in html
    assert texts_of(app, mailout_id)["en"][0] == "News of the campaign"
    assert not audited(app, "mailout.update")


def test_a_scheduled_mailout_can_be_edited_and_a_started_one_cannot(app, auth, people, audience):
    coordinator = auth.coordinator()
    from datetime import timedelta

    from objectwar.types import utcnow

    scheduled = new_mailout(app)
    with app.app_context():
        editing.schedule(scheduled, utcnow() + timedelta(days=1))
    edit = f"/admin/mailouts/{scheduled}/edit"
    assert coordinator.get(edit).status_code == 200
    answer = post(coordinator, edit, {"list": "updates", "locale": "en", "subject": "Later",
                                      "body_markdown": "B", "rate_per_minute": "5"}, form_page=edit)
    assert answer.status_code == 302 and status_of(app, scheduled) == MailoutStatus.SCHEDULED
    assert texts_of(app, scheduled) == {"en": ("Later", "B")}

    started = new_mailout(app)
    form_page = f"/admin/mailouts/{started}/edit"
    token = csrf_token(coordinator, form_page)
    with app.app_context():
        sweep.start_sending(started)  # sending begins while the coordinator edits
    refused = coordinator.post(form_page, data={"csrf_token": token, "list": "updates", "locale": "en",
                                                "subject": "Too late", "body_markdown": "B",
                                                "rate_per_minute": "5"})
    assert refused.status_code == 409
    assert texts_of(app, started)["en"][0] == "News of the campaign"
    assert coordinator.get(form_page).status_code == 409
    assert f'href="{form_page}"' not in coordinator.get(f"/admin/mailouts/{started}").get_data(as_text=True)


def test_the_service_refuses_to_edit_once_sending_started(app, audience):
    from objectwar.errors import Conflict

    mailout_id = new_mailout(app)
    with app.app_context():
        sweep.start_sending(mailout_id)
        with pytest.raises(Conflict):
            editing.update_mailout(mailout_id, {"list": "updates", "subject": "S", "body_markdown": "B"})
    assert texts_of(app, mailout_id)["en"][0] == "News of the campaign"


def test_a_translation_the_form_cannot_show_is_kept(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app, locale="de", subject="Neuigkeiten", body_markdown="Hallo",
                             translations={"en": {"subject": "News", "body_markdown": "Hello"}})
    edit = f"/admin/mailouts/{mailout_id}/edit"
    answer = post(coordinator, edit, {"list": "updates", "locale": "de", "subject": "Neues",
                                      "body_markdown": "Hallo", "rate_per_minute": "5"}, form_page=edit)
    assert answer.status_code == 302
    assert texts_of(app, mailout_id) == {"de": ("Neues", "Hallo"), "en": ("News", "Hello")}


# -- duplicating ------------------------------------------------------------------------------


def test_a_sent_mailout_is_duplicated_as_a_new_draft(app, auth, people, audience, relay):
    coordinator = auth.coordinator()
    original = new_mailout(app, audience={"country": ["DE"]}, rate_per_minute=77)
    detail = f"/admin/mailouts/{original}"
    post(coordinator, f"{detail}/send", form_page=f"{detail}/send")
    assert status_of(app, original) == MailoutStatus.SENT and relay.count() == 3
    answer = post(coordinator, f"{detail}/duplicate", form_page=detail)
    assert answer.status_code == 302
    with app.app_context():
        copy = _db.session.scalar(select(Mailout).where(Mailout.id != original))
        assert (copy.status, copy.audience_countries, copy.rate_per_minute, copy.created_by_id,
                copy.started_at, copy.sent_count) == (MailoutStatus.DRAFT, ["DE"], 77, people.coordinator, None, 0)
        copy_id = copy.id
    assert answer.headers["Location"].endswith(f"/admin/mailouts/{copy_id}/edit")
    assert texts_of(app, copy_id) == texts_of(app, original)
    assert count(app, Delivery, Delivery.mailout_id == copy_id) == 0 and relay.count() == 3
    assert [(e.target_id, e.details["original_id"]) for e in audited(app, "mailout.duplicate")] == [
        (copy_id, original)]
    assert 'value="News of the campaign"' in coordinator.get(answer.headers["Location"]).get_data(as_text=True)


# -- the sender's name and the Reply-To --------------------------------------------------


def test_a_from_name_and_a_reply_to_reach_the_relay_the_copy_and_the_test(
        app, auth, people, audience, relay):
    coordinator = auth.coordinator()
    edit_page = coordinator.get("/admin/mailouts/new").get_data(as_text=True)
    assert '<option value="team@objectwar.test">Campaign team &lt;team@objectwar.test&gt;</option>' in edit_page
    answer = post(coordinator, "/admin/mailouts/new", {
        "list": "updates", "locale": "en", "subject": "News", "body_markdown": "Hello {{ name }}",
        "rate_per_minute": "600", "from_name": "Connection e.V. für die Kampagne",
        "reply_to": "team@objectwar.test",
    })
    assert answer.status_code == 302
    mailout_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    detail = coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)
    assert "Connection e.V. für die Kampagne" in detail and "Campaign team &lt;team@objectwar.test&gt;" in detail
    assert coordinator.get(f"/admin/mailouts/{mailout_id}/edit").get_data(as_text=True).count(
        '<option selected value="team@objectwar.test">') == 1

    post(coordinator, f"/admin/mailouts/{mailout_id}/send", form_page=f"/admin/mailouts/{mailout_id}/send")
    relay.wait_for(3)
    for message in relay.messages:
        assert message["From"].addresses[0].display_name == "Connection e.V. für die Kampagne"
        assert message["From"].addresses[0].addr_spec == "noreply@objectwar.test"  # the signed domain
        assert str(message["Reply-To"]) == "Campaign team <team@objectwar.test>"

    with app.app_context():
        copy = editing.duplicate(mailout_id)
        assert (copy.from_name, copy.reply_to) == ("Connection e.V. für die Kampagne", "team@objectwar.test")
    detail = f"/admin/mailouts/{mailout_id}"
    assert post(coordinator, f"{detail}/test", {"locale": "en"}, form_page=detail).status_code == 302
    relay.wait_for(4)
    test = relay.messages[-1]
    assert test["Subject"].startswith("[Test]")
    assert test["From"].addresses[0].display_name == "Connection e.V. für die Kampagne"
    assert str(test["Reply-To"]) == "Campaign team <team@objectwar.test>"


def test_without_a_from_name_or_reply_to_the_configured_sender_and_no_reply_to(app, audience, relay):
    mailout_id = new_mailout(app)
    with app.app_context():
        sweep.start_sending(mailout_id)
    from objectwar import tasks

    with app.app_context():
        tasks.enqueue_mailout(mailout_id)
    relay.wait_for(3)
    assert {str(m["From"]) for m in relay.messages} == {"noreply@objectwar.test"}
    assert all(m["Reply-To"] is None for m in relay.messages)


@pytest.mark.parametrize(("fields", "errors"), [
    ({"reply_to": "someone@elsewhere.example"}, {"reply_to"}),
    ({"reply_to": 7}, {"reply_to"}),
    ({"from_name": "Line\nbreak"}, {"from_name"}),
    ({"from_name": "x" * 101}, {"from_name"}),
    ({"from_name": "\u202eevil"}, {"from_name"}),
    ({"from_name": ["list"]}, {"from_name"}),
])
def test_a_reply_to_not_offered_or_a_bad_name_is_refused_and_nothing_stored(app, auth, people, audience,
                                                                           fields, errors):
    auth.coordinator()
    body = {"list": "updates", "subject": "News", "body_markdown": "Hi", **fields}
    with pytest.raises(editing.ValidationError) as raised, app.app_context():
        editing.create_mailout(body)
    assert set(raised.value.errors) == errors
    assert count(app, Mailout) == 0


def test_the_reply_to_matches_case_blind_and_is_stored_as_configured(app, audience):
    with app.app_context():
        created = editing.create_mailout({"list": "updates", "subject": "News", "body_markdown": "Hi",
                                           "reply_to": "PRESS@objectwar.test", "from_name": "  "})
        assert (created.reply_to, created.from_name) == ("press@objectwar.test", None)
        assert status.progress(created)["reply_to"] == "press@objectwar.test"


def test_a_reply_to_no_longer_offered_is_left_out_and_the_page_says_so(app, auth, people, audience):
    coordinator = auth.coordinator()
    with app.app_context():
        mailout_id = editing.create_mailout({"list": "updates", "subject": "News", "body_markdown": "Hi",
                                              "reply_to": "press@objectwar.test"}).id
    app.config["MAIL_FROM_CHOICES"] = ["Campaign team <team@objectwar.test>"]
    page = coordinator.get(f"/admin/mailouts/{mailout_id}").get_data(as_text=True)
    assert "(press@objectwar.test) is no longer offered" in page
    with app.app_context():
        mailout = queries.get_mailout(mailout_id)
        rendered = compose.render(mailout, "en")
        assert "Reply-To" not in compose.message_template(mailout, rendered).render(
            to="a@b.example", to_name=None, message_id="<x@y>", values={}).decode()


def test_an_edit_form_error_on_the_reply_to_stays_at_its_field(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    edit = f"/admin/mailouts/{mailout_id}/edit"
    answer = post(coordinator, edit, {"list": "updates", "locale": "en", "subject": "S", "body_markdown": "B",
                                      "rate_per_minute": "60", "reply_to": "forged@evil.example"},
                  form_page=edit)
    assert answer.status_code == 422
    assert "Choose one of the addresses offered." in answer.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Mailout, mailout_id).reply_to is None


# -- cancelling one that finished meanwhile --------------------------------------------------


def test_cancelling_a_mailout_that_finished_meanwhile_says_so_on_its_page(app, auth, people, audience, relay):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    detail = f"/admin/mailouts/{mailout_id}"
    token = csrf_token(coordinator, f"{detail}/cancel")  # the coordinator looks at "Cancel for good?"
    with app.app_context():
        sweep.start_sending(mailout_id)
    from objectwar import tasks

    with app.app_context():
        tasks.enqueue_mailout(mailout_id)  # and meanwhile it is sent to everyone
    assert status_of(app, mailout_id) == MailoutStatus.SENT
    answer = coordinator.post(f"{detail}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert answer.status_code == 200 and answer.request.path == detail
    assert "already been sent to everyone" in answer.get_data(as_text=True)
    assert status_of(app, mailout_id) == MailoutStatus.SENT and not audited(app, "mailout.cancel")
    again = coordinator.get(f"{detail}/cancel", follow_redirects=True)
    assert again.request.path == detail and "already been sent to everyone" in again.get_data(as_text=True)


def test_cancelling_a_cancelled_one_says_so_too(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    detail = f"/admin/mailouts/{mailout_id}"
    token = csrf_token(coordinator, f"{detail}/cancel")
    with app.app_context():
        status.cancel(mailout_id)
    answer = coordinator.post(f"{detail}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert answer.request.path == detail and "already been cancelled" in answer.get_data(as_text=True)
    assert len(audited(app, "mailout.cancel")) == 1


# -- the test mail ----------------------------------------------------------------------------


def test_the_test_mail_has_a_sample_name_and_a_working_sample_unsubscribe_link(
        app, auth, people, audience, outbox):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    detail = f"/admin/mailouts/{mailout_id}"
    assert post(coordinator, f"{detail}/test", {"locale": "de"}, form_page=detail).status_code == 302
    assert post(coordinator, f"{detail}/test", {"locale": "en"}, form_page=detail).status_code == 302
    german, english = outbox
    assert german.recipients == [COORDINATOR_EMAIL]
    assert "Hallo Alex Beispiel" in german.body and "Hallo ," not in german.body  # in its language
    assert "Hello Alex Example," in english.body and "Hello Alex Example," in english.html
    links = re.findall(r"https?://\S+/unsubscribe/[A-Za-z0-9_.\-]+", english.body)
    assert links and links[0] in english.html
    path = "/" + links[0].split("/", 3)[3]
    stranger = app.test_client()  # anybody who gets the test may follow it
    page = stranger.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "sample" in text and "Nothing has changed" in text and "<form" not in text.split("<main")[-1]
    assert stranger.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with app.app_context():
        statuses = set(_db.session.scalars(select(Subscription.status)))
    assert statuses == {SubscriptionStatus.SUBSCRIBED}


def test_a_forged_sample_link_is_no_link(app, audience):
    from objectwar import security

    with app.app_context():
        forged = security.make_token("unsubscribe-sample", ["1"])
        other = security.make_token("something-else", [1])
    client = app.test_client()
    assert client.get(f"/unsubscribe/{forged}").status_code == 404
    assert client.get(f"/unsubscribe/{other}").status_code == 404


# -- the progress figures ------------------------------------------------------------------


def test_the_progress_json_mirrors_the_figures_and_the_page_has_no_meta_refresh(app, auth, people, audience):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    with app.app_context():
        sweep.start_sending(mailout_id)
        _db.session.execute(update(Delivery).where(Delivery.id.in_(
            select(Delivery.id).where(Delivery.mailout_id == mailout_id).limit(2).scalar_subquery()
        )).values(status=DeliveryStatus.SENT))
        _db.session.commit()
        expected = status.progress(_db.session.get(Mailout, mailout_id))
    detail = f"/admin/mailouts/{mailout_id}"
    data = coordinator.get(f"{detail}/progress.json").get_json()
    assert {key: value for key, value in data.items() if key != "display"} == expected
    assert data["display"]["sent"] == "2 / 5" and data["display"]["pending"] == "3"
    assert data["display"]["status"] == "sending" and data["display"]["estimated"].startswith("about")
    page = coordinator.get(detail).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    assert '<script src="/static/mailout-progress.js" defer></script>' in page
    assert f'data-progress-url="{detail}/progress.json"' in page
    assert f'<a href="{detail}">Refresh the figures</a>' in page
    assert coordinator.get("/static/mailout-progress.js").status_code == 200


def test_a_finished_mailout_page_has_no_script(app, auth, people, audience, relay):
    coordinator = auth.coordinator()
    mailout_id = new_mailout(app)
    detail = f"/admin/mailouts/{mailout_id}"
    post(coordinator, f"{detail}/send", form_page=f"{detail}/send")
    page = coordinator.get(detail).get_data(as_text=True)
    assert "<script" not in page and "data-progress-url" not in page and "<progress" in page


def _sending_mailout(app) -> int:
    mailout_id = new_mailout(app)
    with app.app_context():
        sweep.start_sending(mailout_id)  # started, nothing queued: all pending
    return mailout_id


def _mark_sent(app, mailout_id: int, how_many: int) -> None:
    with app.app_context():
        ids = list(_db.session.scalars(select(Delivery.id).where(Delivery.mailout_id == mailout_id)
                                       .order_by(Delivery.id).limit(how_many)))
        _db.session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(status=DeliveryStatus.SENT))
        _db.session.commit()


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_figures_change_without_a_reload(app, browser, live_server, people, audience):
    from playwright.sync_api import expect

    mailout_id = _sending_mailout(app)
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        detail = f"/admin/mailouts/{mailout_id}"
        log_in_browser(page, live_server, detail, COORDINATOR_EMAIL, COORDINATOR_PASSWORD)
        assert page.text_content('[data-figure="sent"]').strip() == "0 / 5"
        assert page.is_hidden("[data-refresh-link]") and page.is_visible("[data-refresh-note]")
        page.evaluate("window.notReloaded = true")
        _mark_sent(app, mailout_id, 3)
        expect(page.locator('[data-figure="sent"]')).to_have_text("3 / 5", timeout=15_000)
        assert page.evaluate("window.notReloaded") is True  # the same page, not a reload
        assert page.text_content('[data-figure="pending"]').strip() == "2"
        assert page.eval_on_selector("progress", "bar => bar.value") == 3
        assert page.locator('meta[http-equiv="refresh"]').count() == 0
        assert not errors, errors  # no CSP violation, no script error
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_without_javascript_a_refresh_link(app, browser, live_server, people, audience):
    mailout_id = _sending_mailout(app)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        detail = f"/admin/mailouts/{mailout_id}"
        log_in_browser(page, live_server, detail, COORDINATOR_EMAIL, COORDINATOR_PASSWORD)
        assert page.text_content('[data-figure="sent"]').strip() == "0 / 5"
        link = page.get_by_role("link", name="Refresh the figures")
        assert link.is_visible() and page.is_hidden("[data-refresh-note]")
        _mark_sent(app, mailout_id, 4)
        link.click()
        page.wait_for_load_state()
        assert page.text_content('[data-figure="sent"]').strip() == "4 / 5"
    finally:
        context.close()
