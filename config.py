"""Configuration classes, read from the environment (names as in CONTRACT.md).

``config_for(name)`` picks a class: ``development`` (the default, used by
``make run``), ``testing`` or ``production`` (``FLASK_CONFIG`` or ``APP_ENV``).
"""

from __future__ import annotations

import os
import re
import secrets
from email.utils import formataddr, getaddresses
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _address_list(name: str) -> list[str]:
    """A comma-separated list of ``Name <address>`` (or bare addresses), each checked."""
    value = os.environ.get(name, "")
    if any(ch in value for ch in "\r\n\x00"):
        raise ConfigError(f"{name}: one line of addresses separated by commas")
    parsed = getaddresses([value]) if value.strip() else []
    bad = [address for _name, address in parsed
           if address.count("@") != 1 or not all(address.split("@")) or " " in address]
    if bad or (value.strip() and not parsed):
        raise ConfigError(f"{name}: not an email address: {', '.join(bad) or value!r}; "
                          "write 'Name <address@example.org>, other@example.org'")
    return [formataddr((name_, address)) for name_, address in parsed]


MIN_KEY_LENGTH = 32
KEY_COMMAND = "python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""
# Values published in documentation and in this project, and placeholders people paste.
KNOWN_KEYS = frozenset({
    "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf",  # Flask's docs
    "test-secret-key", "test-data-key",
})
PLACEHOLDER_WORDS = ("change", "example", "replace", "your-", "your_", "secret-key", "secret_key",
                     "insecure", "placeholder", "dummy")


def _weak_key(key: str) -> bool:
    """A key too short, published, a placeholder, or of a few characters repeated."""
    key = key.strip()
    lowered = key.lower()
    return (len(key) < MIN_KEY_LENGTH or key in KNOWN_KEYS or len(set(key)) < 10
            or any(word in lowered for word in PLACEHOLDER_WORDS))


TWO_FACTOR_MODES = ("required", "optional")


class ConfigError(RuntimeError):
    """The environment lacks a setting the chosen configuration requires."""


# A version 3 onion address (56 base32 characters), with any subdomains in front.
_ONION_HOST = re.compile(r"(?:[a-z0-9-]+\.)*[a-z2-7]{56}\.onion")


def onion_location(value: str | None) -> str | None:
    """``ONION_LOCATION`` as the app uses it (scheme and host, no slash), ``None`` when unset.

    :raise ConfigError: not an http(s) URL of an onion service with nothing after the host.
    """
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or not _ONION_HOST.fullmatch(host) or port == -1
            or parts.username is not None or parts.path not in ("", "/") or parts.query
            or parts.fragment):
        raise ConfigError(
            f"ONION_LOCATION must be the address of the onion service, such as "
            f"http://<56 letters and digits>.onion, with nothing after the host; got {value!r}"
        )
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class Config:
    """Settings shared by every environment; subclasses change the defaults."""

    ENV_NAME = "base"

    LANGUAGES = ("en", "de", "ru", "uk", "be")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "objectwar" / "translations")
    LOCALE_COOKIE = "lang"

    # No pre-ping round trip on every checkout (the busiest pages make one query);
    # connections are recycled instead, and a dropped one is replaced on error.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_recycle": 1800}
    # How long a web process keeps a petition's texts and demands (not its count).
    PETITION_CACHE_SECONDS = 30
    SESSION_COOKIE_NAME = "objectwar_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    # Only Retry-After on a 429 (set by our handlers): no X-RateLimit-* look-ups per request.
    RATELIMIT_HEADERS_ENABLED = False
    DEV_OUTBOX = False
    # Never smtplib's debug output (Flask-Mail follows DEBUG without it): it prints the
    # SMTP conversation, with every address, name and confirmation link.
    MAIL_DEBUG = False
    # Sender name and subject of confirmation emails: neutral on purpose, so a
    # lock screen or a watched mailbox does not show what was signed.
    CONFIRMATION_SENDER_NAME = "Confirmation"
    # -- signing --
    # Seconds a person needs at least to fill in the sign form; faster is a bot.
    SIGN_MIN_FILL_SECONDS = 3
    # Seconds a sign form's stamp stays good (a tab left open longer is asked to sign again).
    SIGN_MAX_FILL_SECONDS = 24 * 3600
    # -- two-factor login --
    # ``required``: a coordinator without two-factor login is sent to set it up after
    # the password and reaches nothing else until then; ``optional``: anyone may set it up.
    COORDINATOR_2FA_DEFAULT = "required"
    # The name an authenticator app shows beside the code.
    TWO_FACTOR_ISSUER = "ObjectWarCampaign"
    # Seconds between the password and the code before the login starts over.
    TWO_FACTOR_PENDING_SECONDS = 300

    def __init__(self) -> None:
        env = os.environ.get
        self.INSTANCE_PATH = env("INSTANCE_PATH") or str(BASE_DIR / "instance")
        self.SECRET_KEY = env("SECRET_KEY") or None
        self.DATA_KEY = env("DATA_KEY") or None
        self.DIGEST_KEY = env("DIGEST_KEY") or None
        self.DATABASE_URL = env("DATABASE_URL") or None
        self.REDIS_URL = env("REDIS_URL") or None
        self.TASKS_IMMEDIATE = _env_bool("TASKS_IMMEDIATE")
        self.PUBLIC_URL = (env("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
        self.UNCONFIRMED_TTL_DAYS = _env_int("UNCONFIRMED_TTL_DAYS", 30)
        # One reminder to confirm, this many hours after the last email (0: none).
        self.CONFIRMATION_REMINDER_HOURS = _env_int("CONFIRMATION_REMINDER_HOURS", 24)
        self.PUBLIC_COUNTRY_MINIMUM = _env_int("PUBLIC_COUNTRY_MINIMUM", 10)
        self.MAILOUT_RATE_PER_MINUTE = _env_int("MAILOUT_RATE_PER_MINUTE", 600)
        self.DELIVERY_CLAIM_SECONDS = _env_int("DELIVERY_CLAIM_SECONDS", 300)
        self.MAIL_RETRY_SECONDS = _env_int("MAIL_RETRY_SECONDS", 60)
        self.SIGN_RATE_LIMIT = env("SIGN_RATE_LIMIT") or "20 per minute"
        self.DATA_REQUEST_RATE_LIMIT = env("DATA_REQUEST_RATE_LIMIT") or "5 per hour"
        self.DATA_REQUEST_ADDRESS_LIMIT = env("DATA_REQUEST_ADDRESS_LIMIT") or "3 per day"
        self.MAIL_SERVER = env("MAIL_SERVER") or "127.0.0.1"
        self.MAIL_PORT = _env_int("MAIL_PORT", 8025)
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS")
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL")
        self.MAIL_USERNAME = env("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER") or "noreply@objectwarcampaign.invalid"
        # The mailto of List-Unsubscribe; unsubscribe@ the sender's domain when unset.
        self.UNSUBSCRIBE_MAILBOX = env("UNSUBSCRIBE_MAILBOX") or None
        # The envelope sender of every email (VERP-tagged), read by ``flask bounce-mail``;
        # bounces@ the sender's domain when unset.
        self.BOUNCE_ADDRESS = env("BOUNCE_ADDRESS") or None
        # The addresses a mail-out may give as its Reply-To ("Name <address>, ..."):
        # a coordinator chooses among them, never types one.
        self.MAIL_FROM_CHOICES = _address_list("MAIL_FROM_CHOICES")
        # The share of hard bounces, after a mail-out's first 200 messages, that pauses it.
        self.MAILOUT_BOUNCE_PAUSE = _env_float("MAILOUT_BOUNCE_PAUSE", 0.05)
        self.CONFIRMATION_SUBJECT = env("CONFIRMATION_SUBJECT") or "Please confirm your signature"
        self.RISKY_EMAIL_DOMAINS = _env_list(
            "RISKY_EMAIL_DOMAINS",
            "mail.ru,yandex.ru,ya.ru,yandex.com,bk.ru,list.ru,inbox.ru,internet.ru,"
            "rambler.ru,lenta.ru,autorambler.ru,myrambler.ru,ro.ru,tut.by,mail.by,yandex.by",
        )
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        # A name from argon2.profiles; None keeps the library's current parameters
        # (64 MiB, 3 passes). Not read from the environment: only tests lower it.
        self.PASSWORD_HASH_PROFILE: str | None = None
        # Without their store (Redis down), limits let requests through and log it:
        # a signature matters more than a limit.
        self.RATELIMIT_SWALLOW_ERRORS = True
        # Keep petition states per web process, dropped by PostgreSQL notifications;
        # off (every view reads the row) behind a pooler that cannot LISTEN.
        self.PETITION_STATE_CACHE = _env_bool("PETITION_STATE_CACHE", True)
        # Off only where something else limits (a proxy) or for benchmarks.
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        # Proxies in front of the app (a TLS-terminating proxy: 1). Their
        # X-Forwarded-For and -Proto give the client's address (rate limits) and
        # the scheme (HSTS, secure cookies).
        self.PROXY_FIX_HOPS = _env_int("PROXY_FIX_HOPS", 0)
        # The onion service's address: HTML answers carry it as Onion-Location.
        self.ONION_LOCATION = onion_location(env("ONION_LOCATION"))
        # Coordinators' and members' sessions end after this long unused, and this long
        # after the login at most (ASVS 3.3).
        self.SESSION_IDLE_MINUTES = _env_int("SESSION_IDLE_MINUTES", 30)
        self.SESSION_MAX_HOURS = _env_int("SESSION_MAX_HOURS", 12)
        self.COORDINATOR_2FA = (env("COORDINATOR_2FA") or self.COORDINATOR_2FA_DEFAULT).strip().lower()
        if self.COORDINATOR_2FA not in TWO_FACTOR_MODES:
            raise ConfigError("COORDINATOR_2FA must be 'required' or 'optional'; "
                              f"got {self.COORDINATOR_2FA!r}")
        os.makedirs(self.INSTANCE_PATH, exist_ok=True)
        if not self.DATABASE_URL:
            self.DATABASE_URL = "sqlite:///" + os.path.join(self.INSTANCE_PATH, "objectwar.db")
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(self.DATABASE_URL)
        self.QUEUE_FILE = os.path.join(self.INSTANCE_PATH, "queue.db")
        self.OUTBOX_DIR = os.path.join(self.INSTANCE_PATH, "outbox")
        self.UPLOAD_DIR = os.path.join(self.INSTANCE_PATH, "uploads")


def normalise_database_url(url: str) -> str:
    """Point plain ``postgres://`` and ``postgresql://`` URLs at psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class DevelopmentConfig(Config):
    """``make run``: SQLite, local queue file, the development mail sink."""

    ENV_NAME = "development"
    DEBUG = True
    DEV_OUTBOX = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    COORDINATOR_2FA_DEFAULT = "optional"

    def __init__(self) -> None:
        super().__init__()
        if not self.SECRET_KEY:
            self.SECRET_KEY = _instance_secret(self.INSTANCE_PATH, "secret_key")
        if not self.DATA_KEY:
            # Derived from the generated secret: stable for this instance folder.
            self.DATA_KEY = "dev-" + self.SECRET_KEY


class TestingConfig(Config):
    """The test suite: its own instance folder, inline tasks, fixed keys."""

    ENV_NAME = "testing"
    TESTING = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        # Tests never inherit the operator's services or secrets: each test
        # asks for what it needs through create_app's overrides.
        self.COORDINATOR_2FA = "optional"  # tests that need ``required`` say so
        # A full Argon2id hash costs a quarter of a second of CPU; the suite hashes
        # thousands of passwords. What is checked (hash, verify, rehash) is the same.
        self.PASSWORD_HASH_PROFILE = "CHEAPEST"  # noqa: S105 (a profile name, not a password)
        self.SECRET_KEY = "test-secret-key"  # noqa: S105 (the test suite's own)
        self.DATA_KEY = "test-data-key"
        self.DIGEST_KEY = None
        self.TASKS_IMMEDIATE = True
        self.REDIS_URL = None
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.PUBLIC_URL = "https://objectwar.test"
        self.MAIL_DEFAULT_SENDER = "noreply@objectwar.test"
        self.SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(self.INSTANCE_PATH, "test.db")


class ProductionConfig(Config):
    """``gunicorn wsgi:app``: refuses to start without its secrets."""

    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        missing = [name for name in ("SECRET_KEY", "DATA_KEY") if not getattr(self, name)]
        if missing:
            raise ConfigError(
                "Production needs these environment variables: " + ", ".join(missing)
            )
        data_keys = [key for key in self.DATA_KEY.split(",") if key.strip()] or [""]
        # Older data keys only read old rows; the newest encrypts, and the digest key
        # (else the oldest data key) makes the look-up digests of addresses.
        in_use = {"SECRET_KEY": self.SECRET_KEY, "DATA_KEY": data_keys[0],
                  "DIGEST_KEY" if self.DIGEST_KEY else "DIGEST_KEY (unset: the oldest DATA_KEY)":
                      self.DIGEST_KEY or data_keys[-1]}
        weak = [name for name, key in in_use.items() if _weak_key(key)]
        if weak:
            raise ConfigError(
                ", ".join(weak) + f": each key needs at least {MIN_KEY_LENGTH} random characters and "
                "must not be an example value. Make one with: " + KEY_COMMAND
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> Config:
    """Build the configuration named by ``name`` or by ``FLASK_CONFIG``/``APP_ENV``."""
    name = name or os.environ.get("FLASK_CONFIG") or os.environ.get("APP_ENV") or "development"
    try:
        return CONFIGS[name]()
    except KeyError:
        raise ConfigError(f"Unknown configuration {name!r}; use one of {sorted(CONFIGS)}") from None


def _instance_secret(folder: str, filename: str) -> str:
    """Return a secret kept in the instance folder, creating it on first use."""
    path = Path(folder) / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
