from __future__ import annotations

import pytest

from warehouse.accounts.passwords import (
    hash_password,
    needs_rehash,
    password_fingerprint,
    password_problem,
    verify_password,
)


def test_hashes_are_argon2id_and_verify():
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "Correct horse battery staple")
    assert not verify_password("not a hash", "x")
    assert not needs_rehash(hashed)


@pytest.mark.parametrize(
    "password",
    ["purple elephant umbrella sandwich", "Tr0ub4dor&3-horse!x", "n9#Kq2$vLp7@"],
)
def test_strong_passwords_pass(password):
    assert password_problem(password, username="alice") is None


@pytest.mark.parametrize(
    ("password", "username", "inputs", "expected"),
    [
        ("short", "alice", (), "at least 8 characters"),
        ("x" * 1025, "alice", (), "at most 1024 characters"),
        ("password", "alice", (), "too easy to guess"),
        ("12345678", "alice", (), "too easy to guess"),
        ("qwertyuiop", "alice", (), "too easy to guess"),
        ("ZebraCrossing42x", "zebracrossing42x", (), "cannot be your username"),
        ("alicesmith1", "asmith", ("alice.smith@example.com", "Alice Smith"), "too easy"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, username, inputs, expected):
    problem = password_problem(password, username=username, user_inputs=inputs)
    assert problem is not None and expected in problem


def test_fingerprint_changes_with_the_hash_and_the_key():
    first, second = hash_password("one password here"), hash_password("one password here")
    assert password_fingerprint("key", first) == password_fingerprint("key", first)
    assert password_fingerprint("key", first) != password_fingerprint("key", second)
    assert password_fingerprint("key", first) != password_fingerprint("other", first)
    assert first not in password_fingerprint("key", first)
