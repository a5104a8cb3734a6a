"""Users, their email addresses and their second factors."""

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
    # Reports from a trusted observer can quarantine a project on their own (warehouse.admin).
    is_trusted_observer: orm.Mapped[bool] = orm.mapped_column(
        default=False, server_default=sa.false()
    )
    date_joined: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    last_login: orm.Mapped[datetime.datetime | None]
    totp_secret: orm.Mapped[bytes | None] = orm.mapped_column(sa.LargeBinary)

    emails: orm.Mapped[list[Email]] = orm.relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Email.id"
    )
    recovery_codes: orm.Mapped[list[RecoveryCode]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RecoveryCode.id"
    )
    webauthn_credentials: orm.Mapped[list[WebAuthnCredential]] = orm.relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="WebAuthnCredential.id",
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
    def has_totp(self) -> bool:
        return self.totp_secret is not None

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None or bool(self.webauthn_credentials)

    @property
    def unused_recovery_codes(self) -> int:
        return sum(1 for code in self.recovery_codes if code.used is None)

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


class RecoveryCode(Model):
    """A one-time code that stands in for the second factor when the device is lost.

    The codes have 80 random bits, so a plain sha256 of each is enough: there is no
    dictionary to try, unlike with passwords.
    """

    __tablename__ = "user_recovery_codes"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary(32))
    generated: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    used: orm.Mapped[datetime.datetime | None]

    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)


class WebAuthnCredential(Model):
    """A security key or passkey registered as a second factor."""

    __tablename__ = "user_webauthn_credentials"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    label: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # base64url of the authenticator's credential id, as browsers send it back.
    credential_id: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    public_key: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary)
    sign_count: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    added: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    last_used: orm.Mapped[datetime.datetime | None]

    user: orm.Mapped[User] = orm.relationship(back_populates="webauthn_credentials")

    __table_args__ = (sa.UniqueConstraint("user_id", "label"),)


class ProhibitedUserName(Model):
    """A username nobody may register: reserved words and the names of deleted accounts.

    Keeping deleted accounts' names stops someone from taking a name that appears in old
    releases' metadata and journals and passing as its former owner.
    """

    __tablename__ = "prohibited_user_names"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(CITEXT, unique=True)
    comment: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
