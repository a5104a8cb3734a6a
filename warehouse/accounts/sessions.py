"""Server-side sessions kept in Redis.

The browser holds only a random 256-bit id in the ``session_id`` cookie; the data stays in
Redis under a hash of that id, so reading Redis (a backup, a ``MONITOR``) does not hand out
live cookies. A session is written back only when something changed, and an empty session
is never stored, so people who only browse get no cookie and pages stay cacheable.

Login and privilege changes call :meth:`RedisSession.rotate`: the data moves to a new id and
the old id stops working, so an id planted in a browser before login (session fixation) is
worth nothing after it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import structlog
from pyramid.interfaces import ISession
from zope.interface import implementer

log = structlog.get_logger(__name__)

COOKIE_NAME = "session_id"
# A session lasts this long after its last write; active sessions are written at least
# every REFRESH_SECONDS, which also renews the cookie.
SESSION_LIFETIME_SECONDS = 12 * 3600
REFRESH_SECONDS = 3600
_KEY_PREFIX = "session:"


def keep_out_of_shared_caches(response) -> None:
    """A response made for one session must never be served to anyone else by a CDN."""
    cache_control = response.cache_control
    cache_control.public = False
    cache_control.s_maxage = None
    cache_control.private = True
    response.vary = sorted(set(response.vary or ()) | {"Cookie"})


def _redis_key(session_id: str) -> str:
    return _KEY_PREFIX + hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def _new_id() -> str:
    return secrets.token_urlsafe(32)


def _mutates(method_name: str):
    original = getattr(dict, method_name)

    def method(self, *args, **kwargs):
        self._modified = True
        return original(self, *args, **kwargs)

    method.__name__ = method_name
    return method


@implementer(ISession)
class RedisSession(dict):
    """A dict of JSON-serializable values that knows whether it must be written back."""

    def __init__(self, data=None, *, session_id=None, created=None, refreshed=None):
        super().__init__(data or {})
        self.session_id: str | None = session_id
        self.new = session_id is None
        now = time.time()
        self.created: float = created or now
        self.refreshed: float = refreshed or now
        self._modified = False
        # Ids whose Redis entries must go when the session is saved (rotated or invalidated).
        self._retired_ids: list[str] = []
        self._invalidated = False

    __setitem__ = _mutates("__setitem__")
    __delitem__ = _mutates("__delitem__")
    clear = _mutates("clear")
    pop = _mutates("pop")
    popitem = _mutates("popitem")
    setdefault = _mutates("setdefault")
    update = _mutates("update")

    # ISession ----------------------------------------------------------------------

    def changed(self) -> None:
        self._modified = True

    def invalidate(self) -> None:
        """Forget everything; anything stored afterwards goes into a brand-new session."""
        if self.session_id is not None:
            self._retired_ids.append(self.session_id)
        dict.clear(self)
        self.session_id = None
        self.new = True
        self.created = self.refreshed = time.time()
        self._invalidated = True
        self._modified = False

    def flash(self, msg, queue: str = "", allow_duplicate: bool = True) -> None:
        key = f"_f_{queue}"
        messages = list(self.get(key, []))
        if allow_duplicate or msg not in messages:
            messages.append(msg)
            self[key] = messages

    def pop_flash(self, queue: str = "") -> list:
        key = f"_f_{queue}"
        return list(self.pop(key, [])) if key in self else []

    def peek_flash(self, queue: str = "") -> list:
        return list(self.get(f"_f_{queue}", []))

    # CSRF tokens go through the CSRF storage policy (request.session[...]); these two are
    # part of ISession for older code.
    def new_csrf_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self["_csrft_"] = token
        return token

    def get_csrf_token(self) -> str:
        return self.get("_csrft_") or self.new_csrf_token()

    # Rotation ----------------------------------------------------------------------

    def rotate(self) -> None:
        """Keep the data under a new id; the old id stops working when the session is saved."""
        if self.session_id is not None:
            self._retired_ids.append(self.session_id)
        self.session_id = None
        self.new = True
        self._modified = True

    @property
    def needs_saving(self) -> bool:
        return self._modified or bool(self._retired_ids)


class RedisSessionFactory:
    def __init__(self, *, cookie_secure: bool | None = None, cookie_name: str = COOKIE_NAME):
        # None: Secure exactly when the request came over https (development runs on http).
        self.cookie_secure = cookie_secure
        self.cookie_name = cookie_name

    def __call__(self, request) -> RedisSession:
        session = self._load(request)
        request.add_response_callback(lambda req, response: self._save(req, response, session))
        return session

    def _load(self, request) -> RedisSession:
        session_id = request.cookies.get(self.cookie_name)
        if not session_id or len(session_id) > 128:
            return RedisSession()
        try:
            raw = request.redis.get(_redis_key(session_id))
        except Exception:  # noqa: BLE001 - a Redis outage logs people out; it must not 500
            log.exception("could not read a session from redis")
            return RedisSession()
        if raw is None:
            return RedisSession()
        try:
            stored = json.loads(raw)
        except ValueError:
            return RedisSession()
        session = RedisSession(
            stored["data"],
            session_id=session_id,
            created=stored["created"],
            refreshed=stored["refreshed"],
        )
        if time.time() - session.refreshed > REFRESH_SECONDS:
            session.changed()  # renew the lifetime of a session in use
        return session

    def _cookie_secure(self, request) -> bool:
        return request.scheme == "https" if self.cookie_secure is None else self.cookie_secure

    def _save(self, request, response, session: RedisSession) -> None:
        if not session.needs_saving:
            return
        redis = request.redis
        pipe = redis.pipeline(transaction=True)
        for retired in session._retired_ids:
            pipe.delete(_redis_key(retired))
        session._retired_ids = []
        if session:
            if session.session_id is None:
                session.session_id = _new_id()
            session.refreshed = time.time()
            payload = {
                "created": session.created,
                "refreshed": session.refreshed,
                "data": dict(session),
            }
            pipe.set(
                _redis_key(session.session_id), json.dumps(payload), ex=SESSION_LIFETIME_SECONDS
            )
        pipe.execute()
        session._modified = False
        if session and session.session_id:
            keep_out_of_shared_caches(response)
            response.set_cookie(
                self.cookie_name,
                session.session_id,
                max_age=SESSION_LIFETIME_SECONDS,
                path="/",
                secure=self._cookie_secure(request),
                httponly=True,
                samesite="Lax",
            )
        elif request.cookies.get(self.cookie_name):
            # Invalidated (logout) or emptied: tell the browser to drop the stale id.
            response.delete_cookie(self.cookie_name, path="/")


def includeme(config) -> None:
    settings = config.registry.settings["warehouse"]
    config.set_session_factory(
        RedisSessionFactory(cookie_secure=getattr(settings, "session_cookie_secure", None))
    )
