"""Passwords: argon2id hashing, the strength rule, and a fingerprint of the current hash."""

from __future__ import annotations

import hashlib
import hmac
import re

import argon2
from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 8
# argon2 would happily hash a megabyte; a bound keeps one request from costing that much.
MAX_PASSWORD_LENGTH = 1024
# zxcvbn's cost grows quickly with length; anything this long is judged on its first part.
STRENGTH_CHECK_LENGTH = 100
# zxcvbn scores 0 (too guessable) to 4 (very unguessable); 2 resists online guessing
# with rate limiting, which is what login offers.
MIN_STRENGTH_SCORE = 2

# argon2id with the library's current recommended parameters.
password_hasher = argon2.PasswordHasher()


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return password_hasher.check_needs_rehash(password_hash)


def password_problem(
    password: str, *, username: str = "", user_inputs: tuple[str, ...] = ()
) -> str | None:
    """Why ``password`` may not be chosen, as one sentence for the form; None if it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Choose a password with at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Choose a password with at most {MAX_PASSWORD_LENGTH} characters."
    if username and password.casefold() == username.casefold():
        return "Your password cannot be your username."
    # Each input also by its parts: "alice.smith@example.com" makes "alice" and "smith"
    # count as guessable words too.
    inputs = set()
    for value in (username, *user_inputs):
        if value:
            inputs.add(value.lower())
            inputs.update(part for part in re.split(r"[^a-z0-9]+", value.lower()) if len(part) > 2)
    result = zxcvbn(password[:STRENGTH_CHECK_LENGTH], user_inputs=sorted(inputs))
    if result["score"] < MIN_STRENGTH_SCORE:
        feedback = result.get("feedback") or {}
        hint = feedback.get("warning") or " ".join(feedback.get("suggestions") or ())
        message = "This password is too easy to guess."
        return f"{message} {hint}".strip() if hint else f"{message} Add more words or characters."
    return None


def password_fingerprint(secret_key: str, password_hash: str) -> str:
    """A short value that changes whenever the password does.

    Sessions and password-reset links carry it, so that changing the password ends every
    other session and voids every reset link already sent, with no extra column to keep.
    It is keyed, so it says nothing about the hash it comes from.
    """
    digest = hmac.new(
        secret_key.encode("utf-8"), b"password:" + password_hash.encode("utf-8"), hashlib.sha256
    )
    return digest.hexdigest()[:32]
