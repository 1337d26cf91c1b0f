"""Field encryption, keyed digests, signed tokens and password hashing.

Personal data (email addresses, names) is stored encrypted with Fernet keys
derived from ``DATA_KEY`` (comma-separated, newest first: MultiFernet encrypts
with the first and decrypts with any, so keys rotate). Lookups and uniqueness
use a keyed HMAC-SHA256 digest of the normalised address, whose key stays put
when data keys rotate: ``DIGEST_KEY`` if set, else derived from the *oldest*
entry of ``DATA_KEY``.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import argon2.profiles
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeTimedSerializer,
)

EXTENSION_KEY = "objectwar.keyring"


def _derive(secret: str, purpose: bytes) -> bytes:
    """Derive 32 bytes for ``purpose`` from a configured secret string."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"objectwar", info=purpose).derive(
        secret.encode("utf-8")
    )


def _fernet_for(secret: str) -> Fernet:
    # A value that already is a Fernet key (from Fernet.generate_key) is used as it is.
    try:
        if len(base64.urlsafe_b64decode(secret.encode("ascii"))) == 32 and len(secret) == 44:
            return Fernet(secret.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        pass
    return Fernet(base64.urlsafe_b64encode(_derive(secret, b"fernet")))


@dataclass(frozen=True)
class Keyring:
    """The keys of one application, built once from its configuration."""

    cipher: MultiFernet
    digest_key: bytes
    token_secret: str
    newest: Fernet | None = None  # the first data key: what encrypts

    @classmethod
    def from_config(cls, config: Any) -> Keyring:
        data_keys = [key.strip() for key in (config.get("DATA_KEY") or "").split(",") if key.strip()]
        if not data_keys:
            raise RuntimeError("DATA_KEY is not configured")
        digest_secret = config.get("DIGEST_KEY") or data_keys[-1]
        fernets = [_fernet_for(key) for key in data_keys]
        return cls(
            cipher=MultiFernet(fernets),
            digest_key=_derive(digest_secret, b"digest"),
            token_secret=config["SECRET_KEY"],
            newest=fernets[0],
        )


def init_app(app: Flask) -> None:
    """Build the application's keyring from its configuration."""
    app.extensions[EXTENSION_KEY] = Keyring.from_config(app.config)
    app.extensions[PASSWORDS_KEY] = password_hasher(app.config.get("PASSWORD_HASH_PROFILE"))


def keyring() -> Keyring:
    return current_app.extensions[EXTENSION_KEY]


def encrypt(value: str) -> str:
    return keyring().cipher.encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(value: str) -> str:
    """Decrypt with any configured key.

    :raise cryptography.fernet.InvalidToken: no configured key opens ``value``.
    """
    return keyring().cipher.decrypt(value.encode("ascii")).decode("utf-8")


def reencrypt(value: str) -> str:
    """Re-encrypt a stored value with the newest key (key rotation).

    :raise cryptography.fernet.InvalidToken: no configured key opens ``value``.
    """
    return keyring().cipher.rotate(value.encode("ascii")).decode("ascii")


def encrypted_with_newest(value: str) -> bool:
    """Whether the newest data key opens a stored value (it needs no re-encryption)."""
    try:
        keyring().newest.decrypt(value.encode("ascii"))  # type: ignore[union-attr]
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def normalise_email(address: str) -> str:
    """The form of an address that decides whether two addresses are the same."""
    return unicodedata.normalize("NFC", address).strip().lower()


def email_digest(address: str) -> str:
    """Keyed digest of the normalised address: the lookup and uniqueness key."""
    return keyed_digest(normalise_email(address))


def keyed_digest(value: str) -> str:
    return hmac.new(keyring().digest_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


# -- signed tokens -------------------------------------------------------------


class TokenError(Exception):
    """A token is forged, altered, expired or meant for something else."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return _serializer_for(keyring().token_secret, purpose)


@functools.lru_cache(maxsize=64)
def _serializer_for(secret: Any, purpose: str) -> URLSafeTimedSerializer:
    # Built once per key and purpose: the petition page signs a stamp per visitor.
    return URLSafeTimedSerializer(secret, salt=f"objectwar.{purpose}")


def make_token(purpose: str, payload: Any) -> str:
    """Sign ``payload`` for one ``purpose`` (a confirmation, an unsubscribe...)."""
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, max_age: int | None = None) -> Any:
    """Return the payload of a token made by :func:`make_token`.

    :raise TokenError: forged, altered, for another purpose, or older than ``max_age``.
    """
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError("expired") from exc
    except BadSignature as exc:
        raise TokenError("invalid") from exc


# -- signed moments: the forms' stamps ----------------------------------------------


def stamp(purpose: str, age: int = 0) -> str:
    """A signed "now" for ``purpose``: shows a form came from a page we served, and when.

    ``age`` dates it back by that many seconds (a form shown again after a first
    submission: its visitor has spent that time on it already).
    """
    signer = _stamp_signer(keyring().token_secret, purpose)
    if age:
        signer = copy.copy(signer)  # the cached signer stays on the clock
        signer.get_timestamp = lambda: int(time.time()) - age  # type: ignore[method-assign]
    return signer.sign(b"").decode("ascii")


def stamp_time(purpose: str, token: str, max_age: int | None = None) -> float:
    """When a stamp made by :func:`stamp` was made (UNIX time).

    :raise TokenError: forged, altered, for another purpose, or older than ``max_age``.
    """
    try:
        _value, when = _stamp_signer(keyring().token_secret, purpose).unsign(
            token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as exc:
        raise TokenError("expired") from exc
    except BadSignature as exc:
        raise TokenError("invalid") from exc
    return when.timestamp()


# -- short signatures: for addresses and Message-IDs -------------------------------------

SHORT_SIGNATURE_LENGTH = 16  # characters: 80 bits of the HMAC


def short_signature(purpose: str, value: str) -> str:
    """A signature of ``value`` of 16 lower-case letters and digits (base32 of 80 bits).

    For tokens that must survive where case may change and few characters are
    allowed: the local part of an address (VERP), a Message-ID.
    """
    mac = hmac.new(_short_key(keyring().token_secret, purpose), value.encode("utf-8"),
                   hashlib.sha256).digest()[:SHORT_SIGNATURE_LENGTH * 5 // 8]
    return base64.b32encode(mac).decode("ascii").lower()


def check_short_signature(purpose: str, value: str, signature: str) -> bool:
    """Whether ``signature`` is :func:`short_signature`'s for ``value`` (case does not matter)."""
    return hmac.compare_digest(short_signature(purpose, value), signature.lower())


@functools.lru_cache(maxsize=16)
def _short_key(secret: str, purpose: str) -> bytes:
    # itsdangerous derives the key of a purpose as for every other token of ours.
    return Signer(secret, salt=f"objectwar.{purpose}", digest_method=hashlib.sha256).derive_key()


@functools.lru_cache(maxsize=64)
def _stamp_signer(secret: str, purpose: str) -> TimestampSigner:
    # The petition page stamps every visit: the key is derived once here, where
    # itsdangerous would derive it again for every signature.
    key = hmac.new(secret.encode("utf-8"), f"objectwar.stamp.{purpose}".encode(), hashlib.sha256)
    return TimestampSigner(key.digest(), key_derivation="none", digest_method=hashlib.sha256)


def random_token() -> str:
    """256 bits of randomness, URL-safe (API tokens)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a random token: what is stored instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- passwords -----------------------------------------------------------------

PASSWORDS_KEY = "objectwar.passwords"


def _hasher() -> PasswordHasher:
    """The application's Argon2id hasher (``PASSWORD_HASH_PROFILE``, else the library's default)."""
    return current_app.extensions[PASSWORDS_KEY]


def password_hasher(profile: str | None) -> PasswordHasher:
    """Argon2id with one of ``argon2.profiles`` by name, or the library's current parameters.

    :raise ValueError: no such profile.
    """
    if not profile:
        return PasswordHasher()
    parameters = getattr(argon2.profiles, profile, None)
    if not isinstance(parameters, argon2.Parameters):
        raise ValueError(f"unknown Argon2 profile: {profile}")
    return PasswordHasher.from_parameters(parameters)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; an account without a password never matches."""
    if not password_hash:
        # Spend the same time as a real check, so timing does not tell.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


__all__ = [
    "InvalidToken",
    "Keyring",
    "TokenError",
    "decrypt",
    "email_digest",
    "encrypt",
    "encrypted_with_newest",
    "hash_password",
    "hash_token",
    "init_app",
    "make_token",
    "normalise_email",
    "random_token",
    "read_token",
    "reencrypt",
    "verify_password",
]
