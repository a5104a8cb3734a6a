"""API tokens: only a hash of the secret is stored."""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.db import Model, utcnow


class APIToken(Model):
    __tablename__ = "api_tokens"

    id: orm.Mapped[uuid.UUID] = orm.mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    description: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    # sha256 of the token's random secret: the secret has 256 bits of entropy, so a slow
    # password hash would add latency to every upload and no security.
    secret_hash: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary(32))
    # Normalized project names the token is limited to; NULL means every project of the user.
    projects: orm.Mapped[list[str] | None]
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    expires: orm.Mapped[datetime.datetime | None]
    last_used: orm.Mapped[datetime.datetime | None]

    user: orm.Mapped[User] = orm.relationship()

    @property
    def is_user_scoped(self) -> bool:
        return self.projects is None
