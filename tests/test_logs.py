"""What the console and the logs show: never an address, a name, a link's token or a query."""

from __future__ import annotations

import contextlib

from tests.signing_support import API_URL


def test_sending_with_debug_on_prints_no_address_name_or_link(app, backend, database_urls, instance_dir,
                                                               smtp_server, capfd):
    from objectwar.demo import seed_demo
    from tests.conftest import make_app
    from tests.signing_support import person

    debugging = make_app(database_urls[backend], instance_dir, DEBUG=True, **smtp_server.config())
    with debugging.app_context():
        seed_demo()
    capfd.readouterr()
    answer = debugging.test_client().post(API_URL, json=person(first_name="Zoltan",
                                                                email="zoltan.probe@example.org"))
    assert answer.status_code == 202
    assert len(smtp_server.messages) == 1  # it did go out, over SMTP
    printed = "".join(capfd.readouterr())
    assert "zoltan.probe" not in printed and "Zoltan" not in printed
    assert "/confirm/" not in printed and "rcpt" not in printed.lower()


def test_the_development_servers_log_shows_no_token_or_query(app, caplog):
    """``make run``'s request log: a confirmation link's token and a query are hidden."""
    import logging
    import threading
    import urllib.request

    from werkzeug.serving import make_server

    from objectwar.dev.server import RedactingRequestHandler, redact

    token = "eyJ2IjoxfQ.Zk3x9Q.abcdefghijklmnopqrstu"
    assert redact(f"/petitions/protect-objectors/confirm/{token}?lang=ru&email=a@b.example") == \
        "/petitions/protect-objectors/confirm/[token]?[query]"
    assert redact("/petitions/protect-objectors") == "/petitions/protect-objectors"
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RedactingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.port}/petitions/protect-objectors/confirm/{token}?email=a@b.example"
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(url, timeout=30)  # noqa: S310 (loopback)
    finally:
        server.shutdown()
        thread.join()
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "werkzeug")
    assert "/confirm/[token]?[query]" in logged
    assert token not in logged and "a@b.example" not in logged


def test_an_unhandled_error_is_logged_without_the_links_token(backend, database_urls, instance_dir, caplog):
    import logging

    from tests.conftest import make_app

    crashing = make_app(database_urls[backend], instance_dir, PROPAGATE_EXCEPTIONS=False)
    token = "eyJ2IjoxfQ.Zk3x9Q.abcdefghijklmnopqrstu"

    @crashing.get("/crash/<token>")
    def crash(token: str):
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR):
        assert crashing.test_client().get(f"/crash/{token}?email=a@b.example").status_code == 500
    # Logged by the route's rule (objectwar.errors), never by the path the visitor sent.
    assert "Unhandled error on GET /crash/<token>" in caplog.text
    assert token not in caplog.text and "a@b.example" not in caplog.text


def test_no_configuration_turns_smtp_debugging_on(app, instance_dir):
    from objectwar import create_app

    for name in ("development", "testing"):
        built = create_app(name, DEBUG=True, MAIL_DEBUG=1)
        assert built.config["MAIL_DEBUG"] is False
        assert built.extensions["mail"].debug == 0

