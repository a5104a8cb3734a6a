"""API tokens: only a hash of the secret is stored."""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.db import Model, utcnow
from warehouse.tokens.caveats import Restrictions


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
    # What the token may do (warehouse.tokens.caveats.SCOPES); NULL for tokens made before
    # scopes existed, which may do everything (upload and manage), as they always could.
    scopes: orm.Mapped[list[str] | None]
    # Macaroon tokens: the salt their key is derived from with the site's secret key (so
    # neither the database nor the secret alone can make a token); secret_hash then holds
    # sha256 of that key. NULL for the first tokens (version 1), whose secret it hashes.
    macaroon_salt: orm.Mapped[bytes | None] = orm.mapped_column(sa.LargeBinary(32))

    user: orm.Mapped[User] = orm.relationship()

    # The request's credential: the row's limits narrowed by the caveats its holder added;
    # set by the token service when it verifies a token, never stored.
    _verified_restrictions = None

    @property
    def is_user_scoped(self) -> bool:
        return self.projects is None

    @property
    def restrictions(self) -> Restrictions:
        return self._verified_restrictions or self.row_restrictions

    @property
    def row_restrictions(self) -> Restrictions:
        return Restrictions(
            scopes=frozenset(self.scopes) if self.scopes is not None else None,
            projects=frozenset(self.projects) if self.projects is not None else None,
            expires=self.expires,
        )
