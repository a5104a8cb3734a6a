from __future__ import annotations

import base64
import re

import pyotp

from warehouse.accounts import twofactor


def test_recovery_codes_are_eight_distinct_readable_codes():
    codes = twofactor.generate_recovery_codes()
    assert len(codes) == 8 and len(set(codes)) == 8
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", code)
        assert not set(code) & set("lo01")  # nothing to misread


def test_recovery_codes_are_compared_loosely_and_hashed():
    code = "abcd-efgh-ijkm-npqr"
    assert twofactor.normalize_recovery_code(" ABCD efgh-IJKM npqr ") == "abcdefghijkmnpqr"
    assert twofactor.recovery_code_hash("ABCD EFGH IJKM NPQR") == twofactor.recovery_code_hash(code)
    assert len(twofactor.recovery_code_hash(code)) == 32
    assert twofactor.recovery_code_hash(code) != twofactor.recovery_code_hash("abcd-efgh-ijkm-npqs")


def test_totp_codes_are_accepted_one_step_either_side():
    secret = twofactor.new_totp_secret()
    totp = pyotp.TOTP(base64.b32encode(secret).decode())
    now = 1_700_000_000
    step = now // 30
    assert twofactor.totp_time_step(secret, totp.at(now), now=now) == step
    assert twofactor.totp_time_step(secret, totp.at(now - 30), now=now) == step - 1
    assert twofactor.totp_time_step(secret, totp.at(now + 30), now=now) == step + 1
    assert twofactor.totp_time_step(secret, totp.at(now - 60), now=now) is None
    code = totp.at(now)
    assert twofactor.totp_time_step(secret, f"{code[:3]} {code[3:]}", now=now) == step


def test_malformed_totp_codes_are_refused():
    secret = twofactor.new_totp_secret()
    for code in ("", "12345", "1234567", "abcdef", "12345a"):
        assert twofactor.totp_time_step(secret, code) is None


def test_replay_guard_allows_each_step_once(redis_client):
    guard = twofactor.TotpReplayGuard(redis_client)
    assert guard.claim("user-1", 100)
    assert not guard.claim("user-1", 100)
    assert guard.claim("user-1", 101)
    assert guard.claim("user-2", 100)
    assert 0 < redis_client.ttl("totp:used:user-1:100") <= 120


def test_provisioning_uri_qr_code_and_display():
    secret = bytes(range(20))
    uri = twofactor.provisioning_uri(secret, "alice", "Warehouse")
    assert uri.startswith("otpauth://totp/Warehouse:alice?secret=")
    assert "issuer=Warehouse" in uri
    assert twofactor.qr_code_data_uri(uri).startswith("data:image/svg+xml")
    shown = twofactor.secret_for_display(secret)
    assert shown.replace(" ", "") == base64.b32encode(secret).decode()
    assert all(len(group) == 4 for group in shown.split())
