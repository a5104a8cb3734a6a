"""Second factors: TOTP (authenticator apps) and single-use recovery codes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time

import pyotp
import segno

TOTP_DIGITS = 6
TOTP_INTERVAL = 30
# Accept the code before and after the current one: phones' clocks drift and people type
# slowly. A used code is remembered for longer than that, so it cannot be replayed.
TOTP_VALID_WINDOW = 1
TOTP_SECRET_BYTES = 20  # 160 bits, what RFC 4226 recommends for HMAC-SHA1

RECOVERY_CODE_COUNT = 8
# 16 characters of a 32-letter alphabet: 80 random bits per code.
RECOVERY_CODE_LENGTH = 16
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l, o, 0, 1: easy to copy by hand

_TOTP_CODE_RE = re.compile(rf"^[0-9]{{{TOTP_DIGITS}}}$")


def new_totp_secret() -> bytes:
    return secrets.token_bytes(TOTP_SECRET_BYTES)


def _totp(secret: bytes) -> pyotp.TOTP:
    return pyotp.TOTP(base64.b32encode(secret).decode("ascii"), digits=TOTP_DIGITS)


def secret_for_display(secret: bytes) -> str:
    """The base32 secret in groups of four, for people who type it into their app."""
    text = base64.b32encode(secret).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def provisioning_uri(secret: bytes, username: str, issuer: str) -> str:
    return _totp(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_code_data_uri(text: str) -> str:
    """An SVG QR code as a ``data:`` URI, so that the page needs no extra request or script."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2)


def normalize_totp_code(code: str) -> str:
    return re.sub(r"\s+", "", code or "")


def totp_time_step(secret: bytes, code: str, *, now: float | None = None) -> int | None:
    """The time step the code belongs to if it is valid for ``secret`` now, else None."""
    code = normalize_totp_code(code)
    if not _TOTP_CODE_RE.match(code):
        return None
    totp = _totp(secret)
    now = time.time() if now is None else now
    current = int(now // TOTP_INTERVAL)
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if secrets.compare_digest(totp.at(step * TOTP_INTERVAL), code):
            return step
    return None


class TotpReplayGuard:
    """Remembers used (user, time step) pairs in Redis, so that each code works only once."""

    def __init__(self, redis):
        self.redis = redis

    def claim(self, user_id, step: int) -> bool:
        """True the first time a step is used by this user; False for a replay."""
        key = f"totp:used:{user_id}:{step}"
        # Keep it until the step can no longer be accepted.
        ttl = TOTP_INTERVAL * (2 * TOTP_VALID_WINDOW + 2)
        return bool(self.redis.set(key, b"1", nx=True, ex=ttl))


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)))
    return codes


def normalize_recovery_code(code: str) -> str:
    return re.sub(r"[\s-]+", "", (code or "").lower())


def recovery_code_hash(code: str) -> bytes:
    return hashlib.sha256(normalize_recovery_code(code).encode("ascii", "replace")).digest()
