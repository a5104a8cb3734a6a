"""Users and their email addresses."""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import CITEXT

from warehouse.db import Model, utcnow


class User(Model):
    __tablename__ = "users"

    id: orm.Mapped[uuid.UUID] = orm.mapped_column(primary_key=True, default=uuid.uuid4)
    username: orm.Mapped[str] = orm.mapped_column(CITEXT, unique=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    # argon2id hash; never the password itself.
    password: orm.Mapped[str] = orm.mapped_column(sa.Text)
    is_active: orm.Mapped[bool] = orm.mapped_column(default=True)
    is_superuser: orm.Mapped[bool] = orm.mapped_column(default=False)
    date_joined: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    last_login: orm.Mapped[datetime.datetime | None]
    totp_secret: orm.Mapped[bytes | None] = orm.mapped_column(sa.LargeBinary)

    emails: orm.Mapped[list[Email]] = orm.relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Email.id"
    )

    __table_args__ = (
        sa.CheckConstraint("length(username) <= 50", name="username_length"),
        sa.CheckConstraint(
            "username ~* '^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$'", name="valid_username"
        ),
    )

    @property
    def primary_email(self) -> Email | None:
        for email in self.emails:
            if email.primary:
                return email
        return None

    @property
    def has_verified_email(self) -> bool:
        return any(email.verified for email in self.emails)

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Email(Model):
    __tablename__ = "user_emails"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    email: orm.Mapped[str] = orm.mapped_column(CITEXT, unique=True)
    primary: orm.Mapped[bool] = orm.mapped_column(default=False)
    verified: orm.Mapped[bool] = orm.mapped_column(default=False)

    user: orm.Mapped[User] = orm.relationship(back_populates="emails")
