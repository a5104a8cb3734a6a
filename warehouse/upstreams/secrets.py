"""Upstream credentials, encrypted at rest with a key from the settings (Fernet)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class CredentialsError(ValueError):
    pass


def _fernet(settings) -> Fernet:
    key = settings.upstream_credentials_key
    if not key:
        # Derived, so a deployment with only WAREHOUSE_SECRET_KEY still encrypts; a key of its
        # own lets the secret key rotate without re-entering every upstream's password.
        digest = hashlib.sha256(b"warehouse.upstreams:" + settings.secret_key.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    try:
        return Fernet(key)
    except ValueError as exc:
        raise CredentialsError(
            "WAREHOUSE_UPSTREAM_CREDENTIALS_KEY is not a Fernet key (32 url-safe base64 bytes)"
        ) from exc


def encrypt(settings, password: str) -> str:
    return _fernet(settings).encrypt(password.encode()).decode()


def decrypt(settings, token: str) -> str:
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsError(
            "the upstream's password cannot be decrypted with the configured key"
        ) from exc
