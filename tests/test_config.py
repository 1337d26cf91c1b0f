"""Configuration read from the environment, as CONTRACT.md names it."""

import os
import secrets

import pytest
from cryptography.fernet import Fernet

from config import (
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    config_for,
    normalise_database_url,
)

STRONG = "aaV43EQEwVdcqtaydpduEmKmBtEbOSInsbsh8d9Vxgq9pQdG"  # a test's own key, never a deployment's


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "DATA_KEY", "DIGEST_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL",
                 "TASKS_IMMEDIATE", "SIGN_RATE_LIMIT", "MAIL_PORT", "UNCONFIRMED_TTL_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    return monkeypatch


def test_production_refuses_to_start_without_secrets(clean_env):
    with pytest.raises(ConfigError, match="SECRET_KEY, DATA_KEY"):
        ProductionConfig()
    clean_env.setenv("SECRET_KEY", STRONG)
    with pytest.raises(ConfigError, match="DATA_KEY"):
        ProductionConfig()
    clean_env.setenv("DATA_KEY", Fernet.generate_key().decode())
    config = ProductionConfig()
    assert config.SESSION_COOKIE_SECURE and config.SESSION_COOKIE_HTTPONLY
    assert config.SESSION_COOKIE_SAMESITE == "Lax"


def test_development_generates_its_secret_once(clean_env, tmp_path):
    first = DevelopmentConfig()
    second = DevelopmentConfig()
    assert first.SECRET_KEY == second.SECRET_KEY
    assert (tmp_path / "secret_key").read_text().strip() == first.SECRET_KEY
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert first.DATA_KEY
    assert f"sqlite:///{tmp_path}/objectwar.db" == first.SQLALCHEMY_DATABASE_URI
    assert os.path.join(str(tmp_path), "queue.db") == first.QUEUE_FILE


def test_environment_names_of_the_contract(clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://u@h/db")
    clean_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    clean_env.setenv("PUBLIC_URL", "https://objectwar.example/")
    clean_env.setenv("TASKS_IMMEDIATE", "1")
    clean_env.setenv("SIGN_RATE_LIMIT", "5 per minute")
    clean_env.setenv("MAIL_PORT", "2525")
    clean_env.setenv("UNCONFIRMED_TTL_DAYS", "7")
    config = config_for("development")
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@h/db"
    assert config.RATELIMIT_STORAGE_URI == "redis://127.0.0.1:6379/3"
    assert config.PUBLIC_URL == "https://objectwar.example"
    assert config.TASKS_IMMEDIATE is True
    assert config.SIGN_RATE_LIMIT == "5 per minute"
    assert config.MAIL_PORT == 2525
    assert config.UNCONFIRMED_TTL_DAYS == 7


def test_defaults_of_the_contract(clean_env):
    config = config_for("development")
    assert config.PUBLIC_URL == "http://127.0.0.1:5000"
    assert (config.MAIL_SERVER, config.MAIL_PORT) == ("127.0.0.1", 8025)
    assert config.UNCONFIRMED_TTL_DAYS == 30
    assert config.MAILOUT_RATE_PER_MINUTE == 600
    assert config.DELIVERY_CLAIM_SECONDS == 300
    assert config.MAIL_RETRY_SECONDS == 60
    assert config.SIGN_RATE_LIMIT == "20 per minute"
    assert config.REDIS_URL is None and config.RATELIMIT_STORAGE_URI == "memory://"


def test_unknown_configuration_name(clean_env):
    with pytest.raises(ConfigError):
        config_for("staging")


def test_database_url_normalisation():
    assert normalise_database_url("postgresql://a/b") == "postgresql+psycopg://a/b"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("enabled", ["", "0"])
def test_rate_limits_can_be_switched_off(clean_env, tmp_path, enabled):
    """``RATELIMIT_ENABLED=0`` (a proxy limits, or a benchmark) lifts every limit."""
    from objectwar import create_app
    from objectwar.extensions import db

    clean_env.setenv("RATELIMIT_ENABLED", enabled)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/limits.db",
                     SIGN_RATE_LIMIT="1 per minute")
    assert app.config["RATELIMIT_ENABLED"] is (enabled != "0")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    answers = [client.post("/api/v1/petitions/nowhere/signatures", json={}).status_code
               for _ in range(3)]
    assert answers == ([404, 429, 429] if enabled != "0" else [404, 404, 404])


@pytest.mark.parametrize("name, value", [
    ("SECRET_KEY", "s"),
    ("DATA_KEY", "d"),
    ("SECRET_KEY", "x" * 31),
    ("SECRET_KEY", "ab" * 40),  # long, but two characters repeated
    ("SECRET_KEY", "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf"),  # Flask's docs
    ("SECRET_KEY", "change-me-to-a-long-random-string-please"),
    ("DATA_KEY", "test-data-key"),
    ("DATA_KEY", "short," + STRONG),  # the newest key encrypts
    ("DATA_KEY", STRONG + ",short"),  # the oldest makes the digests while DIGEST_KEY is unset
    ("DIGEST_KEY", "d"),
], ids=lambda item: item if len(item) < 20 else item[:12])
def test_production_refuses_short_and_example_keys_and_says_how_to_make_one(clean_env, name, value):
    clean_env.setenv("SECRET_KEY", STRONG)
    clean_env.setenv("DATA_KEY", Fernet.generate_key().decode())
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=name) as refused:
        ProductionConfig()
    assert "at least 32" in str(refused.value) and "Fernet.generate_key()" in str(refused.value)
    assert len(value) < 4 or value not in str(refused.value)  # a key is never printed


def test_production_accepts_strong_keys_and_old_weak_data_keys_kept_for_reading(clean_env):
    clean_env.setenv("SECRET_KEY", STRONG)
    clean_env.setenv("DATA_KEY", f"{Fernet.generate_key().decode()},old,{STRONG}")
    assert ProductionConfig().DATA_KEY.count(",") == 2
    clean_env.setenv("DATA_KEY", f"{Fernet.generate_key().decode()},old")
    clean_env.setenv("DIGEST_KEY", secrets.token_hex(32))
    ProductionConfig()


def test_development_and_testing_keep_their_own_keys(clean_env):
    assert len(DevelopmentConfig().SECRET_KEY) >= 32
    assert config_for("testing").SECRET_KEY  # short on purpose: never accepted in production


def test_reply_to_choices_are_read_as_addresses(clean_env):
    clean_env.setenv("MAIL_FROM_CHOICES", 'Campaign team <team@example.org>, press@example.org,"Dr. X" <x@example.org>')
    assert DevelopmentConfig().MAIL_FROM_CHOICES == [
        "Campaign team <team@example.org>", "press@example.org", '"Dr. X" <x@example.org>']
    clean_env.delenv("MAIL_FROM_CHOICES")
    assert DevelopmentConfig().MAIL_FROM_CHOICES == []


@pytest.mark.parametrize("value", ["not an address", "team@example.org, @nowhere", "a@b@c", "x@y\nBcc: z@w"])
def test_reply_to_choices_that_are_no_addresses_refuse_to_start(clean_env, value):
    clean_env.setenv("MAIL_FROM_CHOICES", value)
    with pytest.raises(ConfigError, match="MAIL_FROM_CHOICES"):
        DevelopmentConfig()
