"""A real worker process (`flask --app wsgi worker`) sends what the web process queued."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, make_app
from tests.helpers import link_in
from tests.signing_support import SLUG, person

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture
def queued_app(app, backend, database_urls, instance_dir, smtp_server):
    """The test app with a real queue: Redis when REDIS_URL is set, else the SQLite queue file."""
    # The worker runs the production configuration, which refuses the test suite's short keys.
    settings = {"TASKS_IMMEDIATE": False, "SECRET_KEY": secrets.token_urlsafe(48),
                "DATA_KEY": secrets.token_urlsafe(48), **smtp_server.config()}
    if REDIS_URL:
        settings["REDIS_URL"] = REDIS_URL
    queued = make_app(database_urls[backend], instance_dir, **settings)
    from objectwar.demo import seed_demo
    from objectwar.tasks import huey

    with queued.app_context():
        seed_demo()
    huey.flush()
    return queued


def _start_worker(queued, smtp_server, instance_dir) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLASK_CONFIG": "production",
        "SECRET_KEY": queued.config["SECRET_KEY"],
        "DATA_KEY": queued.config["DATA_KEY"],
        "PUBLIC_URL": queued.config["PUBLIC_URL"],
        "DATABASE_URL": queued.config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": instance_dir,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_DEFAULT_SENDER": queued.config["MAIL_DEFAULT_SENDER"],
    }
    env.pop("REDIS_URL", None)
    if queued.config.get("REDIS_URL"):
        env["REDIS_URL"] = queued.config["REDIS_URL"]
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2", "--no-periodic"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _wait_for(predicate, seconds: float = 120.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_worker_process_sends_the_confirmation(queued_app, smtp_server, instance_dir):
    client = queued_app.test_client()
    response = client.post(f"/api/v1/petitions/{SLUG}/signatures", json=person(locale="uk"))
    assert response.status_code == 202
    time.sleep(0.3)
    assert smtp_server.messages == []  # queued, not sent by the request
    worker = _start_worker(queued_app, smtp_server, instance_dir)
    try:
        assert _wait_for(lambda: len(smtp_server.messages) == 1), "the worker sent nothing"
    finally:
        worker.terminate()
        output = worker.communicate(timeout=20)[0].decode(errors="replace")
    assert worker.returncode is not None, output
    (message,) = smtp_server.messages
    text = message.get_body(("plain",)).get_content()
    assert "Захист і притулок" in text  # the Ukrainian title of what is confirmed
    path = link_in(text)
    assert client.post(path, data={"csrf_token": _csrf(client, path)}).status_code == 200
    assert client.get(f"/api/v1/petitions/{SLUG}").get_json()["signatures"] == 1


def _csrf(client, path: str) -> str:
    from tests.signing_support import csrf_of

    return csrf_of(client.get(path).get_data(as_text=True))
