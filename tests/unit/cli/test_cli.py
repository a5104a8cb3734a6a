"""The `warehouse` command against the test database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from warehouse.accounts.models import Email, User
from warehouse.accounts.services import DatabaseUserService
from warehouse.cli import main
from warehouse.packaging.services import DatabaseProjectService
from warehouse.settings import Settings
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import DatabaseTokenService, InvalidToken


@pytest.fixture
def run(database_url, clean_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_user_create_makes_a_verified_user(run, db_session):
    result = run("user", "create", "bob", "--email", "bob@example.com", "--password", "s3cret-pass")
    assert result.exit_code == 0, result.output
    user = db_session.scalar(sa.select(User).where(User.username == "bob"))
    assert user.password.startswith("$argon2id$")
    email = db_session.scalar(sa.select(Email))
    assert (email.email, email.primary, email.verified) == ("bob@example.com", True, True)


def test_user_create_reports_rule_violations(run):
    assert (
        run("user", "create", "bob", "--email", "b@example.com", "--password", "pw").exit_code == 1
    )
    run("user", "create", "bob", "--email", "b@example.com", "--password", "long-enough")
    again = run("user", "create", "BOB", "--email", "c@example.com", "--password", "long-enough")
    assert again.exit_code == 1 and "already taken" in again.output


def test_token_create_prints_only_a_working_token(run, db_session):
    run("user", "create", "carol", "--email", "c@example.com", "--password", "long-enough")
    carol = DatabaseUserService(db_session).find_by_username("carol")
    DatabaseProjectService(db_session).create("Some_Project", carol)
    db_session.commit()
    result = run("token", "create", "carol", "--project", "Some_Project", "--expires", "7")
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert secret.startswith("pypi-") and "\n" not in secret
    token = DatabaseTokenService(db_session, Settings.secret_key).verify(secret)
    assert token.projects == ["some-project"]
    assert token.expires is not None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(APIToken)) == 1


def test_token_scopes_list_narrow_and_revoke(run, db_session):
    run("user", "create", "erin", "--email", "e@example.com", "--password", "long-enough")
    result = run("token", "create", "erin", "--scope", "upload", "--description", "ci")
    secret = result.output.strip()
    tokens = DatabaseTokenService(db_session, Settings.secret_key)
    token = tokens.verify(secret)
    assert token.scopes == ["upload"] and not token.restrictions.allows("manage")
    token_id = str(token.id)
    db_session.commit()

    listing = run("token", "list", "erin").output
    assert token_id in listing and "\tupload\tall projects\texpires never" in listing
    assert secret not in listing
    narrowed = run("token", "narrow", secret, "--expires", "1").output.strip()
    assert tokens.verify(narrowed).restrictions.expires is not None
    db_session.commit()

    assert (
        run("token", "revoke", str(token.id)).output.strip() == f"revoked token {token.id} of erin"
    )
    db_session.expire_all()
    with pytest.raises(InvalidToken):
        tokens.verify(secret)
    assert run("token", "revoke", token_id).exit_code == 1
    assert "erin has no tokens" in run("token", "list", "erin").output


def test_token_scope_must_name_projects_of_the_user(run, db_session, make_user):
    run("user", "create", "carol", "--email", "c@example.com", "--password", "long-enough")
    missing = run("token", "create", "carol", "--project", "ghost")
    assert missing.exit_code == 1 and "no project named 'ghost'" in missing.output
    DatabaseProjectService(db_session).create("theirs", make_user("dave"))
    db_session.commit()
    foreign = run("token", "create", "carol", "--project", "theirs")
    assert foreign.exit_code == 1 and "carol has no role on project 'theirs'" in foreign.output


def test_token_create_for_unknown_user_fails(run):
    result = run("token", "create", "nobody")
    assert result.exit_code == 1 and "no user named 'nobody'" in result.output


def test_db_current_names_the_head_revision(run, capsys):
    result = run("db", "current")
    assert result.exit_code == 0
