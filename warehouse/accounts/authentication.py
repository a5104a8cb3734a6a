"""The steps of logging in, shared by the login, two-factor and re-authentication views.

A login is a password check, then (for accounts with a second factor) a TOTP or recovery
code check, then :func:`complete_login`. Between the two checks the session holds a
short-lived "pending" marker, never the login itself. Failed attempts count against the
user and the client's IP address (``settings.login_ratelimit``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from urllib.parse import urlsplit

from pyramid.security import forget, remember

from warehouse.accounts import security_keys, twofactor
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.models import User
from warehouse.accounts.passwords import hash_password, verify_password
from warehouse.accounts.security import SESSION_AUTHENTICATED_AT
from warehouse.events import EventSource, client_ip, record_event
from warehouse.events.tags import AccountTag

# How long someone has between their password and their second factor.
PENDING_SECOND_FACTOR_SECONDS = 300
SESSION_PENDING = "auth.pending"
# How long a typed password counts as "just now" for sensitive actions.
REAUTH_SECONDS = 10 * 60

INVALID_CREDENTIALS = "The username or password is not right."
# Verified against when the user does not exist, so that a miss costs as much time as a
# wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = hash_password("not a real password: timing equalizer")


@dataclasses.dataclass
class LoginAttempt:
    user: User | None = None
    error: str | None = None
    rate_limited: bool = False


class LoginLimits:
    """Failed logins per user and per IP address, both under ``settings.login_ratelimit``."""

    def __init__(self, request):
        self.limiter = request.ratelimiter("login")
        self.ip = client_ip(request) or "unknown"

    def _keys(self, user: User | None) -> list[str]:
        keys = [f"ip:{self.ip}"]
        if user is not None:
            keys.append(f"user:{user.id}")
        return keys

    def blocked(self, user: User | None) -> bool:
        return not all(self.limiter.allowed(key) for key in self._keys(user))

    def failed(self, user: User | None) -> None:
        for key in self._keys(user):
            self.limiter.hit(key)

    def succeeded(self, user: User) -> None:
        # Called once the whole login succeeded (not after the password alone, or knowing
        # the password would buy unlimited guesses at the second factor). The owner's own
        # earlier typos stop counting; the IP count stays, or one good account would
        # unlock guessing at the others.
        self.limiter.clear(f"user:{user.id}")

    def register(self) -> bool:
        """Count an account created from this address; False once the limit is reached.

        Sign-ups share the login limit: a form that can be posted in a loop needs a bound,
        and a separate setting would only be one more number to tune.
        """
        return self.limiter.hit(f"register:{self.ip}")

    def message(self) -> str:
        minutes = max(1, math.ceil(self.limiter.retry_after() / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return (
            f"There have been too many unsuccessful login attempts. Try again in {minutes} {unit}."
        )


def _record_failure(request, user: User, reason: str) -> None:
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.LOGIN_FAILURE,
        actor=user,
        additional={"reason": reason},
    )


def check_password_login(request, login: str, password: str) -> LoginAttempt:
    """The first step: the user if ``password`` is theirs, else an error for the form."""
    users = request.find_service(IUserService)
    user = users.find_by_login(login) if login else None
    limits = LoginLimits(request)
    if limits.blocked(user):
        return LoginAttempt(error=limits.message(), rate_limited=True)
    if user is None:
        verify_password(_DUMMY_HASH, password)
        limits.failed(None)
        return LoginAttempt(error=INVALID_CREDENTIALS)
    if not users.check_password(user, password):
        limits.failed(user)
        _record_failure(request, user, "password")
        return LoginAttempt(error=INVALID_CREDENTIALS)
    if not user.is_active:
        _record_failure(request, user, "disabled")
        return LoginAttempt(error="This account is disabled.")
    return LoginAttempt(user=user)


def complete_login(request, user: User, *, method: str) -> None:
    """Log ``user`` in: a new session id, the login noted and recorded."""
    request.session.pop(SESSION_PENDING, None)
    LoginLimits(request).succeeded(user)
    remember(request, str(user.id), user=user)
    request.find_service(IUserService).record_login(user)
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.LOGIN_SUCCESS,
        actor=user,
        additional={"method": method},
    )


def log_out(request) -> None:
    user = request.user
    if user is not None:
        record_event(request, EventSource.user, user.id, AccountTag.LOGOUT)
    forget(request)


# The second factor ---------------------------------------------------------------------


def start_second_factor(request, user: User, next_url: str) -> None:
    request.session[SESSION_PENDING] = {
        "user_id": str(user.id),
        "at": time.time(),
        "next": next_url,
    }


def pending_login(request) -> tuple[User | None, str]:
    """The user who passed the password step moments ago, and where they were going."""
    pending = request.session.get(SESSION_PENDING)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECOND_FACTOR_SECONDS:
        return None, "/"
    user = request.find_service(IUserService).find_by_id(pending["user_id"])
    if user is None or not user.is_active or not user.has_two_factor:
        return None, "/"
    return user, pending.get("next") or "/"


def check_totp(request, user: User, code: str) -> LoginAttempt:
    limits = LoginLimits(request)
    if limits.blocked(user):
        return LoginAttempt(error=limits.message(), rate_limited=True)
    step = twofactor.totp_time_step(user.totp_secret, code) if user.totp_secret else None
    if step is None or not twofactor.TotpReplayGuard(request.redis).claim(user.id, step):
        limits.failed(user)
        _record_failure(request, user, "totp")
        return LoginAttempt(error="That code is not right. Enter the current code from your app.")
    return LoginAttempt(user=user)


def check_security_key(request, user: User, credential_text: str) -> LoginAttempt:
    limits = LoginLimits(request)
    if limits.blocked(user):
        return LoginAttempt(error=limits.message(), rate_limited=True)
    try:
        security_keys.authenticate(request, user, credential_text)
    except security_keys.SecurityKeyError as exc:
        limits.failed(user)
        _record_failure(request, user, "webauthn")
        return LoginAttempt(error=str(exc))
    return LoginAttempt(user=user)


def check_recovery_code(request, user: User, code: str) -> LoginAttempt:
    limits = LoginLimits(request)
    if limits.blocked(user):
        return LoginAttempt(error=limits.message(), rate_limited=True)
    if not request.find_service(IUserService).use_recovery_code(user, code):
        limits.failed(user)
        _record_failure(request, user, "recovery_code")
        return LoginAttempt(error="That recovery code is not right or has already been used.")
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.RECOVERY_CODE_USED,
        actor=user,
        additional={"remaining": user.unused_recovery_codes},
    )
    return LoginAttempt(user=user)


# Re-authentication -----------------------------------------------------------------------


def recently_authenticated(request) -> bool:
    typed_at = request.session.get(SESSION_AUTHENTICATED_AT, 0)
    return time.time() - typed_at < REAUTH_SECONDS


def mark_reauthenticated(request) -> None:
    # The session may now do more than a moment ago: give it a new id, like at login.
    request.session.rotate()
    request.session[SESSION_AUTHENTICATED_AT] = time.time()


def safe_next(url: str | None, default: str = "/") -> str:
    """``url`` if it is a path on this site, else ``default``: no open redirects."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return default
    return url
