"""DatabaseUserService's rules, on a real database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.factories import create_project
from warehouse.accounts.models import ProhibitedUserName, RecoveryCode, User
from warehouse.accounts.services import AccountError, DatabaseUserService
from warehouse.packaging.models import Role


@pytest.fixture
def users(db_session) -> DatabaseUserService:
    return DatabaseUserService(db_session)


@pytest.mark.parametrize("name", ["admin", "ROOT", "Support", "pypi", "warehouse"])
def test_reserved_usernames(users, name):
    with pytest.raises(AccountError, match="not available"):
        users.check_new_username(name)


def test_prohibited_and_taken_usernames(users, db_session, make_user):
    make_user("alice")
    db_session.add(ProhibitedUserName(name="gone"))
    db_session.flush()
    with pytest.raises(AccountError, match="not available"):
        users.check_new_username("GONE")
    with pytest.raises(AccountError, match="already taken"):
        users.check_new_username("Alice")
    users.check_new_username("alice2")


def test_find_by_login_takes_a_username_or_any_address(users, make_user):
    alice = make_user("alice")
    users.add_email(users.find_by_id(alice.id), "second@example.com")
    assert users.find_by_login("ALICE").id == alice.id
    assert users.find_by_login("Second@Example.com").id == alice.id
    assert users.find_by_login("nobody@example.com") is None
    assert users.find_by_id("not-a-uuid") is None


def test_first_address_becomes_primary_and_limits(users, db_session):
    user = users.create_user("bob", "a long enough pw")
    first = users.add_email(user, "bob@example.com")
    second = users.add_email(user, "bob2@example.com")
    assert first.primary and not second.primary
    with pytest.raises(AccountError, match="Verify an address"):
        users.set_primary_email(user, second)
    users.verify_email(second)
    assert users.set_primary_email(user, second) is first
    assert second.primary and not first.primary
    with pytest.raises(AccountError, match="primary"):
        users.remove_email(user, second)
    users.remove_email(user, first)
    assert [e.email for e in user.emails] == ["bob2@example.com"]
    for n in range(9):
        users.add_email(user, f"more{n}@example.com")
    with pytest.raises(AccountError, match="at most 10"):
        users.add_email(user, "toomany@example.com")


def test_recovery_codes_work_once_and_are_replaced(users, make_user, db_session):
    user = users.find_by_id(make_user("alice").id)
    codes = users.replace_recovery_codes(user)
    assert user.unused_recovery_codes == 8
    assert users.use_recovery_code(user, codes[3])
    assert not users.use_recovery_code(user, codes[3])
    assert not users.use_recovery_code(user, "aaaa-bbbb-cccc-dddd")
    assert user.unused_recovery_codes == 7
    new_codes = users.replace_recovery_codes(user)
    assert not users.use_recovery_code(user, codes[0])
    assert users.use_recovery_code(user, new_codes[0])
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 8


def test_disabling_the_last_factor_drops_recovery_codes(users, make_user, db_session):
    user = users.find_by_id(make_user("alice").id)
    users.enable_totp(user, b"x" * 20)
    users.replace_recovery_codes(user)
    users.disable_totp(user)
    assert not user.has_two_factor
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0


def test_check_password_rehashes_outdated_hashes(users, make_user, monkeypatch):
    import argon2

    from warehouse.accounts import passwords

    user = users.find_by_id(make_user("alice").id)
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    user.password = weak.hash("correct horse battery")
    old = user.password
    assert users.check_password(user, "correct horse battery")
    assert user.password != old and passwords.verify_password(
        user.password, "correct horse battery"
    )
    assert not users.check_password(user, "wrong")


def test_deletion_is_blocked_by_sole_ownership(users, make_user, db_session):
    alice, bob = make_user("alice"), make_user("bob")
    solo, shared = create_project(db_session, "solo"), create_project(db_session, "shared")
    db_session.add_all(
        [
            Role(user_id=alice.id, project_id=solo.id, role_name="Owner"),
            Role(user_id=alice.id, project_id=shared.id, role_name="Owner"),
            Role(user_id=bob.id, project_id=shared.id, role_name="Owner"),
        ]
    )
    db_session.flush()
    alice = users.find_by_id(alice.id)
    assert users.projects_blocking_deletion(alice) == ["solo"]
    with pytest.raises(AccountError, match="only owner of solo"):
        users.delete_user(alice)
    db_session.execute(sa.delete(Role).where(Role.project_id == solo.id))
    users.delete_user(alice)
    assert db_session.scalar(sa.select(User.username)) == "bob"
    assert db_session.scalar(sa.select(ProhibitedUserName.name)) == "alice"
