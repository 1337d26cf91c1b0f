"""What docs/operations.md promises operators: the onion service's header, rotating the data key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text, literal, select, type_coerce, update

from config import ConfigError, DevelopmentConfig, onion_location
from objectwar import create_app, security
from objectwar.extensions import db as _db
from objectwar.petitions import signing
from objectwar.petitions.models import Signature
from objectwar.privacy.key_rotation import encrypted_columns
from tests.conftest import make_app
from tests.signing_support import SLUG, person

ONION_HOST = "objectwar" + "a" * 39 + "234567ab.onion"  # 56 base32 characters before .onion
ONION = f"http://{ONION_HOST}"


# -- the onion service: Onion-Location -------------------------------------------------


@pytest.fixture
def onion_client(database_urls, instance_dir):
    """A client of an app that announces its onion service."""
    application = make_app(database_urls["sqlite"], instance_dir, ONION_LOCATION=ONION + "/")
    yield application.test_client()
    with application.app_context():
        _db.engine.dispose()


def test_html_pages_name_the_same_page_on_the_onion_service(onion_client):
    home = onion_client.get("/")
    assert home.status_code == 200
    assert home.headers["Onion-Location"] == ONION + "/"
    directory = onion_client.get("/organisations?country=DE&q=%C3%BCber")
    assert directory.mimetype == "text/html"
    assert directory.headers["Onion-Location"] == ONION + "/organisations?country=DE&q=%C3%BCber"
    missing = onion_client.get("/no/such/%C3%BC%25page")
    assert missing.status_code == 404
    assert missing.headers["Onion-Location"] == ONION + "/no/such/%C3%BC%25page"


def test_only_html_pages_and_not_over_the_onion_service_itself(onion_client):
    api = onion_client.get("/api/v1/petitions")
    assert api.mimetype == "application/json"
    assert "Onion-Location" not in api.headers
    over_tor = onion_client.get("/", base_url=ONION)
    assert over_tor.status_code == 200
    assert "Onion-Location" not in over_tor.headers


def test_no_onion_location_when_unset(database_urls, instance_dir):
    application = make_app(database_urls["sqlite"], instance_dir)
    assert application.config["ONION_LOCATION"] is None
    assert "Onion-Location" not in application.test_client().get("/").headers


@pytest.mark.parametrize("value", [
    "objectwar.onion",  # no scheme
    "ftp://" + ONION_HOST,
    "http://objectwar.example",  # not an onion
    "http://example.onion",  # not a v3 address
    "http://" + ONION_HOST + ".example",
    "http://" + ONION_HOST + "/petitions",  # a path: the request's own path is appended
    "http://" + ONION_HOST + "?x=1",
    "http://user@" + ONION_HOST,
    "http://" + ONION_HOST + ":99999",
    "http://" + ONION_HOST + "\r\nX-Injected: 1",
])
def test_bad_onion_locations_are_refused_at_start_up(value, monkeypatch, tmp_path, database_urls):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ONION_LOCATION", value)
    with pytest.raises(ConfigError, match="ONION_LOCATION"):
        DevelopmentConfig()
    monkeypatch.delenv("ONION_LOCATION")
    with pytest.raises(ConfigError, match="ONION_LOCATION"):
        create_app("testing", SQLALCHEMY_DATABASE_URI=database_urls["sqlite"], ONION_LOCATION=value)


def test_good_onion_locations_are_kept_without_a_slash(monkeypatch, tmp_path):
    assert onion_location(f" HTTPS://www.{ONION_HOST.upper()}/ ") == f"https://www.{ONION_HOST}"
    assert onion_location(f"http://{ONION_HOST}:8080") == f"http://{ONION_HOST}:8080"
    assert onion_location("") is None
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ONION_LOCATION", ONION + "/")
    assert DevelopmentConfig().ONION_LOCATION == ONION


# -- rotating the data key: flask rotate-data-key ------------------------------------------


def _stored_values(application) -> list[tuple[str, str]]:
    """Every encrypted value as stored (``table.column``, token)."""
    with application.app_context():
        values = []
        for column in encrypted_columns():
            stored = type_coerce(column, Text)
            values += [(f"{column.table.name}.{column.name}", token) for token in
                       _db.session.scalars(select(stored).where(column.is_not(None)))]
        _db.session.remove()
        return values


def test_rotate_data_key_reencrypts_everything_and_the_old_key_can_go(app, backend, database_urls,
                                                                      instance_dir):
    from objectwar.demo import seed_demo

    url = database_urls[backend]
    old = make_app(url, instance_dir, DATA_KEY="old-data-key")
    with old.test_request_context("/"):
        seed_demo()
        for number in range(5):  # more rows than a batch
            outcome = signing.sign(SLUG, person(email=f"signer{number}@example.org",
                                                first_name=f"Олена{number}", updates=True),
                                   default_locale="en")
            signing.confirm(SLUG, signing.confirmation_token(_db.session.get(Signature, outcome.signature_id)))
        _db.session.remove()
    before = _stored_values(old)
    assert {name for name, _token in before} >= {"signatures.email", "signatures.first_name",
                                                 "subscribers.email"}

    rotated = make_app(url, instance_dir, DATA_KEY="new-data-key,old-data-key")
    result = rotated.test_cli_runner().invoke(args=["rotate-data-key", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "signatures.first_name: 5 re-encrypted, 0 already under the newest key, 0 unreadable" \
        in result.output
    assert "set DIGEST_KEY to that key's value" in result.output
    again = rotated.test_cli_runner().invoke(args=["rotate-data-key"])
    assert again.exit_code == 0, again.output
    assert "signatures.first_name: 0 re-encrypted, 5 already under the newest key" in again.output

    # A process still on the old key writes meanwhile: the rotation's check sees it.
    from objectwar.privacy.key_rotation import remaining

    with old.app_context():
        _db.session.execute(update(Signature).where(
            Signature.email_digest == security.email_digest("signer1@example.org"))
            .values(first_name=literal(security.encrypt("Written late"), Text)))
        _db.session.commit()
        _db.session.remove()
    with rotated.app_context():
        assert remaining() == {"signatures.first_name": 1}
        _db.session.remove()
    once_more = rotated.test_cli_runner().invoke(args=["rotate-data-key"])
    assert once_more.exit_code == 0 and "signatures.first_name: 1 re-encrypted" in once_more.output
    with rotated.app_context():
        assert not remaining()
        _db.session.remove()

    after = _stored_values(rotated)
    assert len(after) == len(before)
    with rotated.app_context():
        newest = rotated.extensions[security.EXTENSION_KEY].newest
        assert all(newest.decrypt(token.encode()) for _name, token in after)

    # The old key gone; DIGEST_KEY keeps the digests the oldest data key made.
    new_only = make_app(url, instance_dir, DATA_KEY="new-data-key", DIGEST_KEY="old-data-key")
    with new_only.app_context():
        signer = _db.session.scalar(select(Signature).where(
            Signature.email_digest == security.email_digest("signer3@example.org")))
        assert (signer.first_name, signer.email) == ("Олена3", "signer3@example.org")
        _db.session.remove()
        # A value sealed with a key nobody configured is reported, and the run fails.
        stranger = Fernet(Fernet.generate_key()).encrypt(b"who?").decode()
        _db.session.execute(update(Signature).where(Signature.id == signer.id)
                            .values(last_name=literal(stranger, Text)))
        _db.session.commit()
        with pytest.raises(InvalidToken):
            _db.session.get(Signature, signer.id)
        _db.session.remove()
    failed = new_only.test_cli_runner().invoke(args=["rotate-data-key"])
    assert failed.exit_code == 1
    assert "signatures.last_name: 0 re-encrypted, 4 already under the newest key, 1 unreadable" \
        in failed.output
    for application in (old, rotated, new_only):
        with application.app_context():
            _db.engine.dispose()
