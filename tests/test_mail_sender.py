"""The mail sender, links from PUBLIC_URL, the development sink and /dev/outbox."""

import os
import time

import pytest
from flask_mail import Message

from objectwar import create_app
from objectwar.dev.sink import start_sink
from objectwar.mail import message as email
from tests.conftest import free_port


def test_external_urls_come_from_public_url_not_the_request(app):
    with app.test_request_context("/", base_url="http://evil.example"):
        url = email.external_url("petitions.detail", slug="protect-objectors")
    assert url == "https://objectwar.test/petitions/protect-objectors"


def test_external_urls_keep_a_path_prefix(database_urls, instance_dir):
    from tests.conftest import make_app

    app = make_app(database_urls["sqlite"], instance_dir, PUBLIC_URL="https://example.org/campaign")
    with app.app_context():
        assert email.external_url("main.home") == "https://example.org/campaign/"


def test_send_over_real_smtp(app, smtp_server):
    app.config.update(smtp_server.config())
    from objectwar.extensions import mail

    mail.init_app(app)
    with app.app_context():
        email.send(Message("Hello", recipients=["someone@example.org"], body="Text",
                           html="<p>HTML</p>", sender="noreply@objectwar.test"))
    (received,) = smtp_server.messages
    assert received["Subject"] == "Hello"
    assert received.get_body(("plain",)).get_content().strip() == "Text"
    assert received.get_body(("html",)).get_content().strip() == "<p>HTML</p>"


@pytest.fixture
def dev_app(tmp_path, monkeypatch):
    """The development configuration, on its own instance folder and sink port."""
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("MAIL_PORT", str(free_port()))
    return create_app("development")


def test_dev_sink_keeps_mail_and_outbox_shows_it(dev_app):
    sink = start_sink(dev_app.config["OUTBOX_DIR"], "127.0.0.1", dev_app.config["MAIL_PORT"])
    try:
        with dev_app.app_context():
            email.send(Message("Bitte bestätigen", recipients=["wer@example.org"],
                               body="Der Text", html="<p>Das <b>HTML</b></p>",
                               sender="noreply@objectwar.test"))
        deadline = time.time() + 5
        while not os.listdir(dev_app.config["OUTBOX_DIR"]) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        sink.stop()
    (name,) = os.listdir(dev_app.config["OUTBOX_DIR"])
    client = dev_app.test_client()
    listing = client.get("/dev/outbox").get_data(as_text=True)
    assert "Bitte bestätigen" in listing
    assert "wer@example.org" in listing
    page = client.get(f"/dev/outbox/{name}").get_data(as_text=True)
    assert "Der Text" in page
    html = client.get(f"/dev/outbox/{name}/html")
    assert "<b>HTML</b>" in html.get_data(as_text=True)
    assert html.headers["Content-Security-Policy"].startswith("sandbox")
    assert client.get("/dev/outbox/../../secret_key").status_code == 404
    assert client.get("/dev/outbox/123-abcdef12.eml").status_code == 404


def test_dev_outbox_only_for_this_machine(dev_app):
    client = dev_app.test_client()
    assert client.get("/dev/outbox").status_code == 200
    assert client.get("/dev/outbox", environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 404
