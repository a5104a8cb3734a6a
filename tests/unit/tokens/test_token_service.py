import datetime

import pytest
import sqlalchemy as sa
from pymacaroons import Macaroon

from warehouse.db import utcnow
from warehouse.settings import Settings
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import DatabaseTokenService, InvalidToken, narrow


@pytest.fixture
def tokens(db_session):
    return DatabaseTokenService(db_session, Settings.secret_key)


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
    # The same identifier and caveats, signed with a key that is not the token's. (Editing the
    # text's last characters is not enough: they can fall on the trailing newline, not the
    # signature.)
    genuine = Macaroon.deserialize(secret.removeprefix("pypi-"))
    forged = Macaroon(location=genuine.location, identifier=genuine.identifier, key=b"guess")
    for caveat in genuine.first_party_caveats():
        forged.add_first_party_caveat(caveat.caveat_id)
    assert forged.signature != genuine.signature
    with pytest.raises(InvalidToken, match="Invalid or non-existent"):
        tokens.verify("pypi-" + forged.serialize())

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


# --- Macaroon tokens: scopes and caveats ----------------------------------------------------


def test_new_tokens_are_macaroons_with_their_scopes(tokens, user):
    token, secret = tokens.create(user, scopes=["upload"], projects=["Demo"])
    assert token.macaroon_salt is not None and token.scopes == ["upload"]
    verified = tokens.verify(secret).restrictions
    assert verified.allows("upload") and not verified.allows("manage")
    assert verified.covers("demo") and not verified.covers("other") and not verified.covers(None)


def test_a_holder_narrows_but_never_widens(tokens, user):
    _, secret = tokens.create(user)
    upload_only = narrow(secret, scopes=["upload"])
    assert not tokens.verify(upload_only).restrictions.allows("manage")
    widened = narrow(upload_only, scopes=["upload", "manage"])
    assert not tokens.verify(widened).restrictions.allows("manage")
    with pytest.raises(InvalidToken, match="no scope"):
        tokens.verify(narrow(upload_only, scopes=["manage"]))
    sooner = utcnow() - datetime.timedelta(seconds=5)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(narrow(secret, expires=sooner))
    # The original is untouched.
    assert tokens.verify(secret).restrictions.allows("manage")


def test_unknown_or_malformed_caveats_refuse_the_token(tokens, user):
    from pymacaroons import Macaroon

    _, secret = tokens.create(user)
    for caveat, reason in (
        ('{"ip": "1.2.3.4"}', "unknown caveat 'ip'"),
        ("not json", "not JSON"),
        ('{"scopes": ["delete-everything"]}', "unknown scope"),
    ):
        macaroon = Macaroon.deserialize(secret.removeprefix("pypi-"))
        macaroon.add_first_party_caveat(caveat)
        with pytest.raises(InvalidToken, match=reason):
            tokens.verify("pypi-" + macaroon.serialize())


def test_a_token_needs_the_secret_key_it_was_made_with(db_session, user):
    _, secret = DatabaseTokenService(db_session, "one key").create(user)
    with pytest.raises(InvalidToken, match="Invalid or non-existent"):
        DatabaseTokenService(db_session, "another key").verify(secret)


def test_caveats_cannot_be_forged_without_the_key(tokens, user):
    from pymacaroons import Macaroon

    token, secret = tokens.create(user, scopes=["upload"])
    forged = Macaroon(location="warehouse", identifier=token.id.hex, key=b"guess" * 8)
    with pytest.raises(InvalidToken, match="Invalid or non-existent"):
        tokens.verify("pypi-" + forged.serialize())
