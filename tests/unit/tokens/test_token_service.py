import datetime

import pytest
import sqlalchemy as sa

from warehouse.db import utcnow
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import DatabaseTokenService, InvalidToken


@pytest.fixture
def tokens(db_session):
    return DatabaseTokenService(db_session)


def test_token_round_trip_stores_only_a_hash(tokens, user, db_session):
    token, secret = tokens.create(user, description="ci")
    db_session.commit()
    assert secret.startswith("pypi-")
    stored = db_session.scalar(sa.select(APIToken))
    assert secret.encode() not in stored.secret_hash and len(stored.secret_hash) == 32
    assert tokens.verify(secret).id == token.id
    assert tokens.verify(secret).last_used is not None


def test_project_scope_is_normalized(tokens, user):
    token, _ = tokens.create(user, projects=["My_Project", "other.pkg"])
    assert token.projects == ["my-project", "other-pkg"]
    assert not token.is_user_scoped


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("not-a-token", "does not start with 'pypi-'"),
        ("pypi-", "malformed"),
        ("pypi-!!!!", "malformed"),
        ("pypi-AAAA", "malformed"),
    ],
)
def test_malformed_tokens_are_refused_with_a_reason(tokens, bad, reason):
    with pytest.raises(InvalidToken, match=reason):
        tokens.verify(bad)


def test_wrong_secret_and_revoked_and_expired_tokens_fail(tokens, user, db_session):
    _, secret = tokens.create(user)
    tampered = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    with pytest.raises(InvalidToken, match="Invalid or non-existent"):
        tokens.verify(tampered)

    token, secret = tokens.create(user)
    tokens.revoke(token)
    with pytest.raises(InvalidToken, match="Invalid or non-existent"):
        tokens.verify(secret)

    _, secret = tokens.create(user, expires=utcnow() - datetime.timedelta(seconds=1))
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(secret)


def test_disabled_account_tokens_fail(tokens, user):
    _, secret = tokens.create(user)
    user.is_active = False
    with pytest.raises(InvalidToken, match="disabled"):
        tokens.verify(secret)
