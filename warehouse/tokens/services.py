"""API tokens: ``pypi-`` followed by a macaroon whose caveats say what the token may do.

A token is a pymacaroons macaroon: its identifier is the token's id, its key is derived from
a per-token salt (stored) and the site's secret key (not stored), and its first-party caveats
(:mod:`warehouse.tokens.caveats`) restrict it: scopes, projects, expiry. The row keeps the
limits the token was made with too, so a token is never wider than its row, and revoking it
deletes the row. A holder can add caveats (:func:`narrow`) but not remove them.

Tokens made before macaroons (version 1: ``pypi-`` and a base64url blob of a version byte,
the id and a random secret, of which only sha256 is stored) keep working with what they
could do then: upload and manage, on their projects, until they expire.
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
from pymacaroons import Macaroon, Verifier
from pymacaroons.exceptions import MacaroonException
from sqlalchemy import orm
from zope.interface import implementer

from warehouse.accounts.models import User
from warehouse.db import utcnow
from warehouse.tokens.caveats import (
    SCOPES,
    CaveatError,
    Restrictions,
    expires_caveat,
    projects_caveat,
    scopes_caveat,
)
from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.models import APIToken

PREFIX = "pypi-"
LOCATION = "warehouse"
_VERSION = b"\x01"
_SECRET_BYTES = 32
_BLOB_LENGTH = len(_VERSION) + 16 + _SECRET_BYTES
_NOT_FOUND = "Invalid or non-existent authentication information."


class InvalidToken(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _hash(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def _body(token_string: str) -> str:
    if not token_string.startswith(PREFIX):
        raise InvalidToken("Invalid API Token: the token does not start with 'pypi-'.")
    return token_string[len(PREFIX) :].strip()


def _version_one(body: str) -> tuple[uuid.UUID, bytes] | None:
    """(id, secret) of a version 1 token; None if the body is not one."""
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(blob) != _BLOB_LENGTH or blob[:1] != _VERSION:
        return None
    return uuid.UUID(bytes=blob[1:17]), blob[17:]


def _macaroon(body: str) -> Macaroon:
    try:
        macaroon = Macaroon.deserialize(body)
        uuid.UUID(hex=_text(macaroon.identifier))
    except Exception:  # noqa: BLE001 - pymacaroons raises many kinds on garbage
        raise InvalidToken("Invalid API Token: the token is malformed.") from None
    return macaroon


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def narrow(
    token_string: str,
    *,
    scopes=None,
    projects=None,
    expires: datetime.datetime | None = None,
) -> str:
    """The token with more caveats: what a holder can do alone, without the index.

    The new token can do no more than the old one (caveats only take away), and the old one
    keeps working: revoke it if it is the one to retire.
    """
    body = _body(token_string)
    if _version_one(body) is not None:
        raise CaveatError("This token predates caveats: make a new one to narrow it.")
    macaroon = _macaroon(body)
    caveats = []
    if scopes:
        caveats.append(scopes_caveat(scopes))
    if projects:
        caveats.append(projects_caveat(projects))
    if expires is not None:
        caveats.append(expires_caveat(expires))
    for caveat in caveats:
        macaroon.add_first_party_caveat(caveat)
    return PREFIX + macaroon.serialize()


@implementer(ITokenService)
class DatabaseTokenService:
    # How often last_used is written back: once a minute is plenty and saves a row
    # update on every upload of a busy token.
    LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)

    def __init__(self, session, secret_key: str):
        self.db = session
        self.secret_key = secret_key.encode()

    def _key(self, token_id: uuid.UUID, salt: bytes) -> bytes:
        return hmac.new(self.secret_key, b"api-token:" + token_id.bytes + salt, "sha256").digest()

    def create(
        self,
        user,
        *,
        projects: list[str] | None = None,
        expires: datetime.datetime | None = None,
        description: str = "",
        scopes=SCOPES,
    ) -> tuple[APIToken, str]:
        token_id = uuid.uuid4()
        salt = secrets.token_bytes(_SECRET_BYTES)
        key = self._key(token_id, salt)
        chosen_scopes = sorted(set(scopes))
        caveats = [scopes_caveat(chosen_scopes)]
        if projects:
            caveats.append(projects_caveat(projects))
        if expires is not None:
            caveats.append(expires_caveat(expires))
        token = APIToken(
            id=token_id,
            user=user,
            description=description,
            secret_hash=_hash(key),
            macaroon_salt=salt,
            scopes=chosen_scopes,
            projects=sorted({canonicalize_name(p) for p in projects}) if projects else None,
            expires=expires,
        )
        self.db.add(token)
        self.db.flush()
        macaroon = Macaroon(location=LOCATION, identifier=token_id.hex, key=key)
        for caveat in caveats:
            macaroon.add_first_party_caveat(caveat)
        return token, PREFIX + macaroon.serialize()

    def _find(self, token_id: uuid.UUID) -> APIToken | None:
        # One round trip for the token, its user and the user's emails (checked on upload).
        return (
            self.db.scalars(
                sa.select(APIToken)
                .where(APIToken.id == token_id)
                .options(orm.joinedload(APIToken.user).joinedload(User.emails))
            )
            .unique()
            .one_or_none()
        )

    def verify(self, token_string: str) -> APIToken:
        body = _body(token_string)
        if (version_one := _version_one(body)) is not None:
            token_id, secret = version_one
            token = self._find(token_id)
            if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
                raise InvalidToken(_NOT_FOUND)
            restrictions = token.row_restrictions
        else:
            macaroon = _macaroon(body)
            token = self._find(uuid.UUID(hex=_text(macaroon.identifier)))
            if token is None or token.macaroon_salt is None:
                raise InvalidToken(_NOT_FOUND)
            restrictions = self._check_macaroon(token, macaroon)
        now = utcnow()
        if restrictions.expired(now):
            raise InvalidToken("Invalid API Token: the token has expired.")
        if restrictions.scopes is not None and not restrictions.scopes:
            raise InvalidToken("Invalid API Token: its caveats leave it no scope.")
        if not token.user.is_active:
            raise InvalidToken("Invalid API Token: the account is disabled.")
        if token.last_used is None or now - token.last_used > self.LAST_USED_RESOLUTION:
            token.last_used = now
        token._verified_restrictions = restrictions
        return token

    def _check_macaroon(self, token: APIToken, macaroon: Macaroon) -> Restrictions:
        key = self._key(token.id, token.macaroon_salt)
        if not hmac.compare_digest(token.secret_hash, _hash(key)):
            # Made under another secret key (it was rotated): no token of before can verify.
            raise InvalidToken(_NOT_FOUND)
        restrictions = token.row_restrictions
        problems: list[str] = []

        def satisfied(caveat: str) -> bool:
            nonlocal restrictions
            try:
                restrictions = restrictions.narrowed_by(_text(caveat))
            except CaveatError as exc:
                problems.append(str(exc))
                return False
            return True

        verifier = Verifier()
        verifier.satisfy_general(satisfied)
        try:
            verifier.verify(macaroon, key)
        except MacaroonException:
            if problems:
                raise InvalidToken(f"Invalid API Token: {problems[0]}.") from None
            raise InvalidToken(_NOT_FOUND) from None
        return restrictions

    def list_for(self, user) -> list[APIToken]:
        return list(
            self.db.scalars(
                sa.select(APIToken)
                .where(APIToken.user_id == user.id)
                .order_by(APIToken.created.desc())
            )
        )

    def find_for(self, user, token_id: str) -> APIToken | None:
        try:
            parsed = uuid.UUID(str(token_id))
        except ValueError:
            return None
        return self.db.scalar(
            sa.select(APIToken).where(APIToken.user_id == user.id, APIToken.id == parsed)
        )

    def revoke(self, token: APIToken) -> None:
        self.db.delete(token)
        self.db.flush()


def token_service_factory(context, request) -> DatabaseTokenService:
    return DatabaseTokenService(request.db, request.registry.settings["warehouse"].secret_key)
