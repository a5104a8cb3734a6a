"""Users: creation rules and argon2id password hashing."""

from __future__ import annotations

import re

import argon2
import sqlalchemy as sa
from zope.interface import implementer

from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.models import Email, User

USERNAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8

# argon2id with the library's current recommended parameters.
password_hasher = argon2.PasswordHasher()


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


@implementer(IUserService)
class DatabaseUserService:
    def __init__(self, session):
        self.db = session

    def find_by_username(self, username: str) -> User | None:
        return self.db.scalar(sa.select(User).where(User.username == username))

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
            if not EMAIL_RE.match(email):
                raise AccountError(f"{email!r} is not a valid email address.")
            taken = self.db.scalar(sa.select(Email).where(Email.email == email))
            if taken is not None:
                raise AccountError(f"The email address {email!r} is already in use.")
            user.emails.append(Email(email=email, primary=True, verified=email_verified))
        self.db.add(user)
        self.db.flush()
        return user

    def check_password(self, user: User, password: str) -> bool:
        try:
            password_hasher.verify(user.password, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
        if password_hasher.check_needs_rehash(user.password):
            user.password = hash_password(password)
        return True


def user_service_factory(context, request) -> DatabaseUserService:
    return DatabaseUserService(request.db)
