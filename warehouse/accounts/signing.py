"""Signed, expiring tokens for links sent by email (verify an address, reset a password).

A token is ``<payload>.<timestamp>.<signature>``, each part base64url without padding:
the payload is JSON, the timestamp the signing time in seconds, the signature an
HMAC-SHA256 over the first two parts. The key is derived from the site's secret key and a
``purpose``, so a token made for one purpose is worthless for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time


class BadToken(Exception):
    """The token was not made by us, was altered, or is not a token at all."""


class ExpiredToken(BadToken):
    """The token is genuine but older than it may be."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("the token is malformed") from None


class Signer:
    def __init__(self, secret_key: str, purpose: str, *, max_age: int):
        if not secret_key:
            raise ValueError("a secret key is required")
        self.max_age = max_age
        self._key = hmac.new(
            secret_key.encode("utf-8"), b"warehouse.signing:" + purpose.encode("utf-8"), "sha256"
        ).digest()

    def _signature(self, signed_part: bytes) -> bytes:
        return hmac.new(self._key, signed_part, hashlib.sha256).digest()

    def sign(self, payload: dict, *, now: float | None = None) -> str:
        body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        stamp = _b64encode(int(now if now is not None else time.time()).to_bytes(8, "big"))
        signed_part = f"{body}.{stamp}"
        return f"{signed_part}.{_b64encode(self._signature(signed_part.encode()))}"

    def unsign(self, token: str, *, now: float | None = None) -> dict:
        """The payload; raises :class:`ExpiredToken` or :class:`BadToken`."""
        parts = (token or "").strip().split(".")
        if len(parts) != 3:
            raise BadToken("the token is malformed")
        body, stamp, signature = parts
        expected = self._signature(f"{body}.{stamp}".encode())
        # Checked before anything is decoded: nothing an attacker wrote is parsed unsigned.
        if not hmac.compare_digest(expected, _b64decode(signature)):
            raise BadToken("the signature does not match")
        signed_at = int.from_bytes(_b64decode(stamp), "big")
        age = (now if now is not None else time.time()) - signed_at
        if age > self.max_age:
            raise ExpiredToken("the token has expired")
        try:
            payload = json.loads(_b64decode(body))
        except ValueError:
            raise BadToken("the token is malformed") from None
        if not isinstance(payload, dict):
            raise BadToken("the token is malformed")
        return payload
