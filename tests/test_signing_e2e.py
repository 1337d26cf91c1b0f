"""Signing end to end: a real SMTP server, PostgreSQL under concurrency, a real browser."""

from __future__ import annotations

import re
import threading
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from objectwar.extensions import db as _db
from objectwar.petitions import signing
from objectwar.petitions.models import Petition, Signature
from tests.helpers import link_in
from tests.signing_support import API_URL, SLUG, person, sign_form

PAGE = f"/petitions/{SLUG}"


@pytest.fixture
def app_overrides(request) -> dict:
    """Deliver mail to the real SMTP server for the tests that ask for one; no fill-time wait."""
    overrides = {"SIGN_MIN_FILL_SECONDS": 0, "SIGN_RATE_LIMIT": "1000 per minute"}
    if "smtp_server" in request.fixturenames:
        overrides.update(request.getfixturevalue("smtp_server").config())
    return overrides


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def press_confirm(client, path: str):
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(path, data={"csrf_token": token})


def counter(page: str) -> str:
    return re.search(r'class="counter">\s*([^<·]+)', page).group(1).strip()


def test_form_end_to_end_through_smtp(client, demo, smtp_server):
    assert counter(client.get(PAGE).get_data(as_text=True)) == "0 signatures"
    response = sign_form(client, PAGE + "?lang=de", email="Juergen@Bücher.example",
                         first_name="Jürgen", updates="y", public_name="y")
    assert response.status_code == 302
    (message,) = smtp_server.messages
    assert smtp_server.envelopes[0].rcpt_tos == ["Juergen@xn--bcher-kva.example"]
    client.get("/?lang=en")  # the pages from here on in English (the choice sticks in a cookie)
    assert message["Subject"] == "Bitte bestätigen Sie Ihre Unterschrift"  # neutral, in German
    assert message["From"] == "Bestätigung <noreply@objectwar.test>"  # the name in German too
    text = text_of(message)
    assert "Schutz und Asyl" in text  # the petition's German title: what is being confirmed
    path = link_in(text)
    assert path in html_of(message)
    # Where to see or erase one's data, in every confirmation email.
    assert "jederzeit einzusehen oder zu löschen:\r\nhttps://objectwar.test/my-data" in text
    assert '<a href="https://objectwar.test/my-data">' in html_of(message)
    page = client.get(path).get_data(as_text=True)
    assert "Confirm my signature" in page
    assert counter(client.get(PAGE).get_data(as_text=True)) == "0 signatures"
    confirmed = press_confirm(client, path)
    assert confirmed.status_code == 200
    assert counter(confirmed.get_data(as_text=True)) == "1 signature"
    petition_page = client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert counter(petition_page) == "1 signature"
    assert "Jürgen M." in petition_page
    # Signing again: the same answer, and an email that says so.
    again = sign_form(client, email="juergen@BÜCHER.example")
    assert (again.status_code, again.headers["Location"]) == (302, response.headers["Location"])
    assert len(smtp_server.messages) == 2
    assert "Sie haben bereits unterschrieben" in text_of(smtp_server.messages[1])  # signed in German
    assert "https://objectwar.test/my-data" in text_of(smtp_server.messages[1])


def test_api_end_to_end_through_smtp(client, demo, smtp_server):
    response = client.post(API_URL, json=person(email="olga@example.org", locale="ru"))
    assert response.status_code == 202
    (message,) = smtp_server.messages
    assert message["To"] == "olga@example.org"
    text = text_of(message)
    assert "Защита и убежище" in text
    path = link_in(text)
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 0
    assert press_confirm(client, path).status_code == 200
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 1
    assert client.post(API_URL, json=person(email="OLGA@example.org")).get_json() == response.get_json()
    assert "Вы уже подписали" in text_of(smtp_server.messages[1])  # in the signer's Russian


def test_internationalised_address_gets_its_email_over_smtputf8(client, demo, smtp_server):
    response = client.post(API_URL, json=person(email="иван@почта.рф", locale="ru"))
    assert response.status_code == 202
    (message,) = smtp_server.messages
    assert message["To"] == "иван@почта.рф"
    assert smtp_server.envelopes[0].rcpt_tos == ["иван@почта.рф"]
    assert "Защита и убежище" in text_of(message)
    assert press_confirm(client, link_in(text_of(message))).status_code == 200
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 1


def test_undeliverable_address_is_not_retried_forever(app, client, demo):
    # A relay without SMTPUTF8 can never take this address: accepted, answered
    # like any other, the email dropped rather than retried every minute.
    from aiosmtpd.controller import Controller

    from tests.conftest import SMTPServer, free_port

    plain = SMTPServer("127.0.0.1", free_port())
    controller = Controller(plain, hostname=plain.host, port=plain.port, enable_SMTPUTF8=False)
    controller.start()
    try:
        app.config.update(plain.config())
        from objectwar.extensions import mail

        mail.init_app(app)
        response = client.post(API_URL, json=person(email="иван@почта.рф"))
    finally:
        controller.stop()
    assert response.status_code == 202
    assert plain.messages == []
    with app.app_context():
        row = _db.session.scalar(select(Signature))
        assert row.confirmation_due_at is None
        assert row.confirmation_sent_at is None
        assert signing.overdue_confirmations() == []


# -- PostgreSQL under concurrency ----------------------------------------------------------


def seed(app) -> None:
    from objectwar.demo import seed_demo

    with app.app_context():
        seed_demo()


def run_together(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released at the same moment; collect results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:  # pragma: no cover - reported by the assertion below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_twenty_threads_signing_one_address(pg_app):
    seed(pg_app)
    spellings = ["race@example.org", "RACE@example.org", " Race@Example.org "]

    def sign(i: int):
        response = pg_app.test_client().post(API_URL, json=person(email=spellings[i % 3]))
        return response.status_code, response.get_json()

    results = run_together(20, sign)
    assert results == [(202, {"status": "pending_confirmation", "notices": []})] * 20
    with pg_app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(Signature)) == 1
        row = _db.session.scalar(select(Signature))
        assert row.confirmation_sends <= signing.MAX_SENDS_PER_DAY
        token = signing.confirmation_token(row)

    # Twenty presses of the same link at once count it once.
    def confirm(i: int):
        with pg_app.test_request_context("/"):
            return signing.confirm(SLUG, token).confirmed_at is not None

    assert run_together(20, confirm) == [True] * 20
    with pg_app.app_context():
        assert _db.session.scalar(select(Petition.signature_count)) == 1


def test_concurrent_confirmations_count_exactly(pg_app):
    seed(pg_app)
    tokens = []
    with pg_app.test_request_context("/"):
        for i in range(20):
            signing.sign(SLUG, person(email=f"p{i}@example.org"), default_locale="en")
        for row in _db.session.scalars(select(Signature)):
            tokens.append(signing.confirmation_token(row))

    def confirm(i: int):
        with pg_app.test_request_context("/"):
            signing.confirm(SLUG, tokens[i % 20])
            return True

    assert run_together(40, confirm) == [True] * 40  # every link pressed twice, at once
    with pg_app.app_context():
        assert _db.session.scalar(select(Petition.signature_count)) == 20
        confirmed = select(func.count()).select_from(Signature).where(Signature.confirmed_at.is_not(None))
        assert _db.session.scalar(confirmed) == 20


def test_two_runners_send_a_due_email_once(pg_app):
    from objectwar.extensions import mail

    seed(pg_app)
    with pg_app.test_request_context("/"):
        ids = [signing.sign(SLUG, person(email=f"q{i}@example.org"), default_locale="en").signature_id
               for i in range(10)]

    with mail.record_messages() as outbox:
        def send(i: int):
            with pg_app.app_context():
                return sum(signing.send_confirmation(signature_id) for signature_id in ids)

        assert sum(run_together(4, send)) == 10
    assert sorted(m.recipients[0] for m in outbox) == sorted(f"q{i}@example.org" for i in range(10))


# -- a real browser, JavaScript off, phone-sized ---------------------------------------------


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_sign_in_chromium_without_javascript_on_a_phone(app, demo, browser, live_server, outbox):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740},
                                  locale="en-GB")
    page = context.new_page()
    try:
        page.goto(live_server + PAGE)
        assert page.locator("h1").inner_text().startswith("Protection and asylum")
        page.fill("#first_name", "Maryia")
        page.fill("#last_name", "Kaliesnikava")
        page.fill("#email", "maryia@example.org")
        page.select_option("#country", "LT")
        page.check("input[name=public_name]")
        page.check("input[name=consent]")
        button = page.locator("form.sign-form button[type=submit]")
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360
        form_box = page.locator("form.sign-form").bounding_box()
        assert form_box["x"] >= 0 and form_box["x"] + form_box["width"] <= 360
        button.click()
        page.wait_for_url("**/signed*")
        assert "Check your inbox" in page.locator("h1").inner_text()
        (message,) = outbox
        page.goto(live_server + link_in(message.body))
        page.locator("button", has_text="Confirm my signature").click()
        page.wait_for_load_state()
        assert "your signature is confirmed" in page.locator("h1").inner_text()
        assert "1 signature" in page.locator(".counter").inner_text()
        page.goto(live_server + PAGE)
        assert "Maryia K." in page.locator(".signers").inner_text()
    finally:
        context.close()
