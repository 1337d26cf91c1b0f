"""Field encryption, digests, tokens and passwords."""

import time

import pytest
from cryptography.fernet import Fernet, InvalidToken

from objectwar import security
from tests.conftest import make_app


def test_encrypt_round_trip_and_not_deterministic(app):
    with app.app_context():
        first = security.encrypt("Алёна Петрова")
        second = security.encrypt("Алёна Петрова")
        assert first != second  # random IV: equal names do not show as equal ciphertexts
        assert "Алёна" not in first
        assert security.decrypt(first) == "Алёна Петрова"


def test_key_rotation_keeps_old_data_readable(database_urls, instance_dir):
    url = database_urls["sqlite"]
    old = make_app(url, instance_dir, DATA_KEY="old-key")
    with old.app_context():
        stored = security.encrypt("someone@example.org")
        old_digest = security.email_digest("someone@example.org")
    rotated = make_app(url, instance_dir, DATA_KEY="new-key,old-key")
    with rotated.app_context():
        assert security.decrypt(stored) == "someone@example.org"
        # The digest key stays with the oldest data key: lookups survive rotation.
        assert security.email_digest("someone@example.org") == old_digest
        fresh = security.reencrypt(stored)
    new_only = make_app(url, instance_dir, DATA_KEY="new-key")
    with new_only.app_context():
        assert security.decrypt(fresh) == "someone@example.org"
        with pytest.raises(InvalidToken):
            security.decrypt(stored)


def test_fernet_keys_are_used_as_given(database_urls, instance_dir):
    key = Fernet.generate_key().decode()
    app = make_app(database_urls["sqlite"], instance_dir, DATA_KEY=key)
    with app.app_context():
        assert Fernet(key.encode()).decrypt(security.encrypt("x").encode()) == b"x"


def test_digest_is_keyed_and_normalised(app, database_urls, instance_dir):
    with app.app_context():
        digest = security.email_digest("Someone@Example.ORG ")
        assert digest == security.email_digest("someone@example.org")
        assert digest != security.email_digest("someone.else@example.org")
        import hashlib

        assert digest != hashlib.sha256(b"someone@example.org").hexdigest()
    other = make_app(database_urls["sqlite"], instance_dir, DIGEST_KEY="another-key")
    with other.app_context():
        assert security.email_digest("someone@example.org") != digest


def test_tokens_refuse_tampering_other_purposes_and_age(app):
    with app.app_context():
        token = security.make_token("confirm", {"id": 7})
        assert security.read_token("confirm", token, max_age=60) == {"id": 7}
        with pytest.raises(security.TokenError):
            security.read_token("unsubscribe", token)
        with pytest.raises(security.TokenError):
            security.read_token("confirm", token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
        time.sleep(1.1)
        with pytest.raises(security.TokenError):
            security.read_token("confirm", token, max_age=0)


def test_stamps_refuse_tampering_other_purposes_and_age(app, database_urls, instance_dir):
    with app.app_context():
        before = time.time()
        token = security.stamp("sign-form")
        assert before - 1 <= security.stamp_time("sign-form", token) <= time.time()
        for forged in ("", "forged", token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                       token.replace(".", "", 1)):
            with pytest.raises(security.TokenError):
                security.stamp_time("sign-form", forged)
        with pytest.raises(security.TokenError):
            security.stamp_time("share-form", token)
        with pytest.raises(security.TokenError, match="expired"):
            security.stamp_time("sign-form", token, max_age=-1)
    # Another secret key: another signer.
    other = make_app(database_urls["sqlite"], instance_dir, SECRET_KEY="another")
    with other.app_context(), pytest.raises(security.TokenError):
        security.stamp_time("sign-form", token)


def test_passwords_are_argon2id(app):
    with app.app_context():
        hashed = security.hash_password("a long enough passphrase")
        assert hashed.startswith("$argon2id$")
        assert security.verify_password(hashed, "a long enough passphrase")
        assert not security.verify_password(hashed, "wrong")
        assert not security.verify_password(None, "anything")


def test_outside_the_test_suite_passwords_take_argon2s_full_parameters(monkeypatch, tmp_path):
    """Only the suite lowers the cost; every other configuration hashes at 64 MiB, 3 passes."""
    import argon2

    from config import Config

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    assert Config().PASSWORD_HASH_PROFILE is None
    full = security.password_hasher(None)
    assert (full.memory_cost, full.time_cost) == (65536, 3)
    assert full.hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert security.password_hasher("CHEAPEST").memory_cost == argon2.profiles.CHEAPEST.memory_cost
    with pytest.raises(ValueError, match="unknown Argon2 profile"):
        security.password_hasher("FASTEST_PLEASE")


def test_api_tokens_are_stored_hashed():
    token = security.random_token()
    assert len(token) >= 43
    assert security.hash_token(token) != token
    assert len(security.hash_token(token)) == 64
