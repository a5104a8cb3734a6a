"""Who is making the request.

Upload and API clients authenticate with HTTP Basic auth, username ``__token__`` and an API
token as the password. The identity carries the token so that its scope (projects, expiry)
is checked wherever permission is decided.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

from pyramid.security import Allowed, Denied
from pyramid.interfaces import ISecurityPolicy
from zope.interface import implementer

from warehouse.accounts.models import User
from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import InvalidToken

TOKEN_USERNAME = "__token__"


class AuthenticationFailed(Exception):
    """Credentials were sent but are not valid; ``reason`` is one sentence for the client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Identity:
    user: User
    token: APIToken | None = None

    def may_act_on(self, normalized_project_name: str | None) -> bool:
        """Whether the credential's scope covers the project (None: a new project)."""
        if self.token is None or self.token.projects is None:
            return True
        return normalized_project_name in self.token.projects


def basic_credentials(request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return username, password


def _identity_from_basic(request) -> Identity | None:
    credentials = basic_credentials(request)
    if credentials is None:
        return None
    username, password = credentials
    if username != TOKEN_USERNAME:
        raise AuthenticationFailed(
            "Username/Password authentication is no longer supported. "
            "Migrate to API Tokens or Trusted Publishers instead."
        )
    service = request.find_service(ITokenService)
    try:
        token = service.verify(password)
    except InvalidToken as exc:
        raise AuthenticationFailed(exc.reason) from None
    return Identity(user=token.user, token=token)


@implementer(ISecurityPolicy)
class SecurityPolicy:
    _CACHE = "warehouse.identity"

    def identity(self, request) -> Identity | None:
        # Pyramid asks for the identity more than once per request; verify the token once.
        if self._CACHE not in request.environ:
            request.environ[self._CACHE] = _identity_from_basic(request)
        return request.environ[self._CACHE]

    def authenticated_userid(self, request):
        identity = request.identity
        return str(identity.user.id) if identity else None

    def permits(self, request, context, permission):
        # Permission on projects depends on roles and token scope; the services decide
        # that. Here we only say whether anyone is logged in.
        if request.identity is None:
            return Denied("not authenticated")
        return Allowed("authenticated")

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def includeme(config) -> None:
    config.set_security_policy(SecurityPolicy())
