"""Users: creation rules, passwords, email addresses, second factors and deletion.

Views call these methods and render their ``AccountError`` messages; none of them commit.
"""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from sqlalchemy import orm
from zope.interface import implementer

from warehouse.accounts import twofactor
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.models import Email, ProhibitedUserName, RecoveryCode, User
from warehouse.accounts.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    password_hasher,
    verify_password,
)
from warehouse.db import utcnow
from warehouse.packaging import journal
from warehouse.packaging.journal import Action
from warehouse.packaging.models import Project, Role, RoleName

__all__ = [
    "AccountError",
    "DatabaseUserService",
    "EMAIL_RE",
    "MIN_PASSWORD_LENGTH",
    "RESERVED_USERNAMES",
    "USERNAME_RE",
    "hash_password",
    "password_hasher",
    "user_service_factory",
]

USERNAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE | re.ASCII)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a path
# Per account: enough for work, personal and an old address, not a spam list.
MAX_EMAILS_PER_USER = 10

# Names that would let an account pass for the index or its staff. Deleted accounts' names
# and names an administrator bans are in the prohibited_user_names table.
RESERVED_USERNAMES = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "help",
        "hostmaster",
        "moderator",
        "no-reply",
        "noreply",
        "postmaster",
        "pypi",
        "root",
        "security",
        "staff",
        "support",
        "system",
        "warehouse",
        "webmaster",
    }
)


class AccountError(ValueError):
    pass


@implementer(IUserService)
class DatabaseUserService:
    def __init__(self, session):
        self.db = session

    # Lookups -------------------------------------------------------------------------

    def find_by_username(self, username: str) -> User | None:
        return self.db.scalar(sa.select(User).where(User.username == username))

    def find_by_id(self, user_id) -> User | None:
        try:
            return self.db.get(User, uuid.UUID(str(user_id)))
        except ValueError:
            return None

    def find_email(self, address: str) -> Email | None:
        return self.db.scalar(sa.select(Email).where(Email.email == address.strip()))

    def find_by_login(self, username_or_email: str) -> User | None:
        """The user a login or reset form means: by username, or by any of their addresses."""
        text = username_or_email.strip()
        if "@" in text:
            email = self.find_email(text)
            return email.user if email is not None else None
        return self.find_by_username(text)

    # Creating ------------------------------------------------------------------------

    def check_new_username(self, username: str) -> None:
        """Raise :class:`AccountError` unless ``username`` may be registered by someone."""
        if not USERNAME_RE.match(username) or len(username) > 50:
            raise AccountError(
                "The username must be 1 to 50 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit."
            )
        prohibited = username.lower() in RESERVED_USERNAMES or self.db.scalar(
            sa.select(ProhibitedUserName.id).where(ProhibitedUserName.name == username)
        )
        if prohibited:
            raise AccountError(f"The username {username!r} is not available. Choose another.")
        # CITEXT compares case-insensitively: "Alice" collides with "alice".
        if self.find_by_username(username) is not None:
            raise AccountError(f"The username {username!r} is already taken.")

    def create_user(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        email_verified: bool = False,
        name: str = "",
    ) -> User:
        if not USERNAME_RE.match(username) or len(username) > 50:
            raise AccountError(
                "The username must be 1 to 50 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit."
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
        if self.find_by_username(username) is not None:
            raise AccountError(f"The username {username!r} is already taken.")
        user = User(username=username, name=name, password=hash_password(password))
        if email is not None:
            self._check_new_email(email)
            user.emails.append(Email(email=email, primary=True, verified=email_verified))
        self.db.add(user)
        self.db.flush()
        return user

    # Passwords -----------------------------------------------------------------------

    def check_password(self, user: User, password: str) -> bool:
        if not verify_password(user.password, password):
            return False
        if needs_rehash(user.password):
            user.password = hash_password(password)
        return True

    def set_password(self, user: User, password: str) -> None:
        user.password = hash_password(password)

    def record_login(self, user: User) -> None:
        user.last_login = utcnow()

    # Email addresses -------------------------------------------------------------------

    def _check_new_email(self, address: str) -> None:
        if len(address) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(address):
            raise AccountError(f"{address!r} is not a valid email address.")
        if self.find_email(address) is not None:
            raise AccountError(f"The email address {address!r} is already in use.")

    def add_email(self, user: User, address: str) -> Email:
        address = address.strip()
        if len(user.emails) >= MAX_EMAILS_PER_USER:
            raise AccountError(f"An account can have at most {MAX_EMAILS_PER_USER} addresses.")
        self._check_new_email(address)
        email = Email(email=address, primary=not user.emails, verified=False)
        user.emails.append(email)
        self.db.flush()
        return email

    def email_of(self, user: User, email_id) -> Email:
        for email in user.emails:
            if str(email.id) == str(email_id):
                return email
        raise AccountError("That email address is not on your account.")

    def verify_email(self, email: Email) -> None:
        email.verified = True

    def set_primary_email(self, user: User, email: Email) -> Email | None:
        """Make ``email`` primary; returns the previous primary address."""
        if not email.verified:
            raise AccountError("Verify an address before making it your primary address.")
        previous = user.primary_email
        if previous is email:
            return None
        if previous is not None:
            previous.primary = False
            self.db.flush()  # the old primary first, should a unique index ever be added
        email.primary = True
        return previous

    def remove_email(self, user: User, email: Email) -> None:
        if email.primary:
            raise AccountError(
                "You cannot remove your primary address. Make another address primary first."
            )
        user.emails.remove(email)
        self.db.flush()

    # Second factors ------------------------------------------------------------------

    def enable_totp(self, user: User, secret: bytes) -> None:
        user.totp_secret = secret

    def disable_totp(self, user: User) -> None:
        user.totp_secret = None
        self.drop_orphaned_recovery_codes(user)

    def drop_orphaned_recovery_codes(self, user: User) -> None:
        """Recovery codes stand in for a second factor; with none left they must go, or
        they would come back to life when a factor is added again."""
        if not user.has_two_factor:
            self._delete_recovery_codes(user)

    def _delete_recovery_codes(self, user: User) -> None:
        self.db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        self.db.expire(user, ["recovery_codes"])

    def replace_recovery_codes(self, user: User) -> list[str]:
        """New recovery codes (the old ones stop working); the plain codes are returned once."""
        self._delete_recovery_codes(user)
        codes = twofactor.generate_recovery_codes()
        for code in codes:
            self.db.add(RecoveryCode(user_id=user.id, code_hash=twofactor.recovery_code_hash(code)))
        self.db.flush()
        self.db.expire(user, ["recovery_codes"])
        return codes

    def use_recovery_code(self, user: User, code: str) -> bool:
        """Burn the code if it is one of the user's unused ones; True if it was."""
        # One UPDATE: two requests racing with the same code cannot both succeed.
        burned = self.db.scalar(
            sa.update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == twofactor.recovery_code_hash(code),
                RecoveryCode.used.is_(None),
            )
            .values(used=utcnow())
            .returning(RecoveryCode.id)
        )
        self.db.expire(user, ["recovery_codes"])
        return burned is not None

    # Deleting ------------------------------------------------------------------------

    def projects_blocking_deletion(self, user: User) -> list[str]:
        """Names of the projects the user is the only Owner of: they must be dealt with first."""
        owners = orm.aliased(Role)
        owner_count = (
            sa.select(sa.func.count(owners.id))
            .where(owners.project_id == Project.id, owners.role_name == RoleName.owner)
            .scalar_subquery()
        )
        return list(
            self.db.scalars(
                sa.select(Project.name)
                .join(Role, Role.project_id == Project.id)
                .where(Role.user_id == user.id, Role.role_name == RoleName.owner, owner_count == 1)
                .order_by(Project.normalized_name)
            )
        )

    def delete_user(self, user: User, *, submitted_by: str | None = None) -> None:
        """Delete the account and keep its name from being registered again."""
        blocking = self.projects_blocking_deletion(user)
        if blocking:
            raise AccountError(
                "You are the only owner of " + ", ".join(blocking) + ". Add another owner or "
                "delete those projects before deleting your account."
            )
        # Leaving a project is a change to it: the journal says so, as for any role change.
        for project_name, role_name in self.db.execute(
            sa.select(Project.name, Role.role_name)
            .join(Role, Role.project_id == Project.id)
            .where(Role.user_id == user.id)
        ):
            journal.record(
                self.db,
                project_name,
                Action.REMOVE_ROLE,
                submitted_by=submitted_by or user.username,
                role=role_name,
                username=user.username,
            )
        self.db.add(ProhibitedUserName(name=user.username, comment="deleted account"))
        self.db.delete(user)
        self.db.flush()


def user_service_factory(context, request) -> DatabaseUserService:
    return DatabaseUserService(request.db)
