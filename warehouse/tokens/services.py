"""API tokens: ``pypi-`` followed by a base64url blob of version, id and a random secret.

Only sha256(secret) is stored. Tokens are scoped to the user or to a list of projects, may
expire, and can be revoked by deleting their row.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import secrets
import uuid

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm
from zope.interface import implementer

from warehouse.accounts.models import User
from warehouse.db import utcnow
from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.models import APIToken

PREFIX = "pypi-"
_VERSION = b"\x01"
_SECRET_BYTES = 32
_BLOB_LENGTH = len(_VERSION) + 16 + _SECRET_BYTES


class InvalidToken(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _encode(token_id: uuid.UUID, secret: bytes) -> str:
    blob = _VERSION + token_id.bytes + secret
    return PREFIX + base64.urlsafe_b64encode(blob).decode().rstrip("=")


def _decode(token_string: str) -> tuple[uuid.UUID, bytes]:
    if not token_string.startswith(PREFIX):
        raise InvalidToken("Invalid API Token: the token does not start with 'pypi-'.")
    body = token_string[len(PREFIX) :].strip()
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("Invalid API Token: the token is malformed.") from None
    if len(blob) != _BLOB_LENGTH or blob[:1] != _VERSION:
        raise InvalidToken("Invalid API Token: the token is malformed.")
    return uuid.UUID(bytes=blob[1:17]), blob[17:]


def _hash(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


@implementer(ITokenService)
class DatabaseTokenService:
    # How often last_used is written back: once a minute is plenty and saves a row
    # update on every upload of a busy token.
    LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)

    def __init__(self, session):
        self.db = session

    def create(
        self,
        user,
        *,
        projects: list[str] | None = None,
        expires: datetime.datetime | None = None,
        description: str = "",
    ) -> tuple[APIToken, str]:
        secret = secrets.token_bytes(_SECRET_BYTES)
        token = APIToken(
            id=uuid.uuid4(),
            user=user,
            description=description,
            secret_hash=_hash(secret),
            projects=sorted({canonicalize_name(p) for p in projects}) if projects else None,
            expires=expires,
        )
        self.db.add(token)
        self.db.flush()
        return token, _encode(token.id, secret)

    def verify(self, token_string: str) -> APIToken:
        token_id, secret = _decode(token_string)
        # One round trip for the token, its user and the user's emails (checked on upload).
        token = (
            self.db.scalars(
                sa.select(APIToken)
                .where(APIToken.id == token_id)
                .options(orm.joinedload(APIToken.user).joinedload(User.emails))
            )
            .unique()
            .one_or_none()
        )
        if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
            raise InvalidToken("Invalid or non-existent authentication information.")
        now = utcnow()
        if token.expires is not None and token.expires <= now:
            raise InvalidToken("Invalid API Token: the token has expired.")
        if not token.user.is_active:
            raise InvalidToken("Invalid API Token: the account is disabled.")
        if token.last_used is None or now - token.last_used > self.LAST_USED_RESOLUTION:
            token.last_used = now
        return token

    def revoke(self, token: APIToken) -> None:
        self.db.delete(token)
        self.db.flush()


def token_service_factory(context, request) -> DatabaseTokenService:
    return DatabaseTokenService(request.db)
