from __future__ import annotations

import pytest

from warehouse.accounts.signing import BadToken, ExpiredToken, Signer


def signer(purpose="verify-email", key="k" * 32, max_age=3600) -> Signer:
    return Signer(key, purpose, max_age=max_age)


def test_round_trip():
    token = signer().sign({"email_id": 3, "email": "a@example.com"})
    assert signer().unsign(token) == {"email_id": 3, "email": "a@example.com"}
    assert all(c.isalnum() or c in "-_." for c in token)  # safe in a URL as it is


def test_expiry_is_checked_against_the_signing_time():
    token = signer().sign({"x": 1}, now=1000)
    assert signer().unsign(token, now=1000 + 3600) == {"x": 1}
    with pytest.raises(ExpiredToken):
        signer().unsign(token, now=1000 + 3601)


def test_an_expired_token_is_also_a_bad_token():
    assert issubclass(ExpiredToken, BadToken)


@pytest.mark.parametrize(
    "other",
    [signer(purpose="password-reset"), signer(key="another key entirely")],
    ids=["other purpose", "other key"],
)
def test_tokens_do_not_cross_purposes_or_keys(other):
    with pytest.raises(BadToken):
        other.unsign(signer().sign({"x": 1}))


def test_any_change_breaks_the_signature():
    token = signer().sign({"user_id": "a"})
    body, stamp, signature = token.split(".")
    forged_body = signer().sign({"user_id": "b"}).split(".")[0]
    for forged in (
        f"{forged_body}.{stamp}.{signature}",
        f"{body}.{signer().sign({}, now=5).split('.')[1]}.{signature}",
        f"{body}.{stamp}.{signature[:-2]}AA",
    ):
        with pytest.raises(BadToken) as excinfo:
            signer().unsign(forged)
        assert not isinstance(excinfo.value, ExpiredToken)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "a.b.c"])
def test_garbage_is_a_bad_token(garbage):
    with pytest.raises(BadToken):
        signer().unsign(garbage)


def test_a_secret_key_is_required():
    with pytest.raises(ValueError):
        Signer("", "x", max_age=1)
