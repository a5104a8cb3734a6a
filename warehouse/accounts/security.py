"""Who is making the request.

Two kinds of client, kept apart by path:

* Programs (uploads, the JSON and XML-RPC APIs, see :data:`API_PATH_PREFIXES`) authenticate
  with HTTP Basic auth, username ``__token__`` and an API token as the password. The
  identity carries the token so that its scope (projects, expiry) is checked wherever
  permission is decided. Session cookies are never honoured on these paths, which is what
  lets those views skip CSRF checks safely.
* People on the website log in with a password (and a second factor) and are remembered by
  the server-side session (:mod:`warehouse.accounts.sessions`). Authorization headers are
  ignored there.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
import uuid

from pyramid.csrf import new_csrf_token
from pyramid.interfaces import ISecurityPolicy
from pyramid.security import Allowed, Denied
from zope.interface import implementer

from warehouse.accounts.models import User
from warehouse.accounts.passwords import password_fingerprint
from warehouse.accounts.sessions import keep_out_of_shared_caches
from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import InvalidToken

TOKEN_USERNAME = "__token__"

# Paths served to programs: token authentication only, no cookies, no CSRF tokens. The
# registry key "accounts.api_path_prefixes" overrides this (a new API under another prefix).
API_PATH_PREFIXES = (
    "/legacy",
    "/api/",
    "/pypi",
    "/RPC2",
    "/simple/",
    "/packages/",
    "/rss/",
    "/_health",
)

# Session keys; everything the login state consists of.
SESSION_USER_ID = "auth.user_id"
SESSION_PASSWORD = "auth.password"  # fingerprint of the password hash at login
SESSION_AUTHENTICATED_AT = "auth.at"  # last time the password was typed (login, re-auth)


class AuthenticationFailed(Exception):
    """Credentials were sent but are not valid; ``reason`` is one sentence for the client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Identity:
    user: User
    # The API token the request came with; None for a website session.
    token: APIToken | None = None

    def may_act_on(self, normalized_project_name: str | None) -> bool:
        """Whether the credential's scope covers the project (None: a new project)."""
        return self.token is None or self.token.restrictions.covers(normalized_project_name)

    def may(self, scope: str) -> bool:
        """Whether the credential may do this kind of thing (warehouse.tokens.caveats)."""
        return self.token is None or self.token.restrictions.allows(scope)


def is_api_request(request) -> bool:
    prefixes = request.registry.get("accounts.api_path_prefixes", API_PATH_PREFIXES)
    return request.path_info.startswith(tuple(prefixes))


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


def _secret_key(request) -> str:
    return request.registry.settings["warehouse"].secret_key


def _identity_from_session(request) -> Identity | None:
    # Only look at the session when the browser sent a cookie: no cookie, no Redis read.
    if not request.cookies:
        return None
    session = request.session
    user_id = session.get(SESSION_USER_ID)
    if not user_id:
        return None
    try:
        user = request.db.get(User, uuid.UUID(user_id))
    except ValueError:
        user = None
    if user is None or not user.is_active:
        return None
    # The password changed since this session logged in (on another device, by a reset):
    # this session no longer proves anything.
    if session.get(SESSION_PASSWORD) != password_fingerprint(_secret_key(request), user.password):
        return None
    # The page may show who is logged in: it is this user's alone.
    request.add_response_callback(lambda _request, response: keep_out_of_shared_caches(response))
    return Identity(user=user)


@implementer(ISecurityPolicy)
class SecurityPolicy:
    _CACHE = "warehouse.identity"

    def identity(self, request) -> Identity | None:
        # Pyramid asks for the identity more than once per request; verify the token once.
        if self._CACHE not in request.environ:
            if is_api_request(request):
                request.environ[self._CACHE] = _identity_from_basic(request)
            else:
                request.environ[self._CACHE] = _identity_from_session(request)
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

    def remember(self, request, userid, *, user: User | None = None, **kw):
        """Log ``userid`` into the session: a new session id, a new CSRF token."""
        user = user or request.db.get(User, uuid.UUID(str(userid)))
        session = request.session
        # Whatever the anonymous session held stays (e.g. where to go next), under a new id.
        session.rotate()
        for key in [key for key in session if key.startswith("auth.")]:
            del session[key]
        session[SESSION_USER_ID] = str(user.id)
        session[SESSION_PASSWORD] = password_fingerprint(_secret_key(request), user.password)
        session[SESSION_AUTHENTICATED_AT] = time.time()
        request.environ.pop(self._CACHE, None)
        new_csrf_token(request)
        return []

    def forget(self, request, **kw):
        request.session.invalidate()
        request.environ.pop(self._CACHE, None)
        return []


def refresh_session_after_password_change(request, user: User) -> None:
    """Keep this session logged in after its own password change, under a new id.

    Every other session of the user ends, because their password fingerprint no longer
    matches (see :func:`_identity_from_session`).
    """
    SecurityPolicy().remember(request, str(user.id), user=user)


def current_user(request) -> User | None:
    """``request.user``: the logged-in user, or None (also when the credentials are bad)."""
    try:
        identity = request.identity
    except AuthenticationFailed:
        return None
    return identity.user if identity else None


def includeme(config) -> None:
    config.set_security_policy(SecurityPolicy())
    config.add_request_method(current_user, "user", property=True)
