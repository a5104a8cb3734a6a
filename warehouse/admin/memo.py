"""A value every process keeps in memory and reloads only when Redis says it changed.

Flags and the quarantined files are read on the hottest paths (every upload, every
download), and change a few times a year. So each process keeps its copy and, at most once
per ``check_seconds``, reads one small Redis key: the version. A writer bumps the version
after its commit (:func:`bump`); the next check in every process sees a new version and
reloads from PostgreSQL. A copy older than ``max_age`` is reloaded whatever Redis says, which
bounds the damage of a lost bump (Redis restarted, a writer killed between commit and bump).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

import redis as redis_lib
import structlog

from warehouse import nonblocking

log = structlog.get_logger(__name__)

T = TypeVar("T")

# This process's memos: a writer's own process reloads at once, not a second later.
_memos: weakref.WeakSet = weakref.WeakSet()


def register_local(memo) -> None:
    """Have :func:`bump` in this process call ``memo.forget()`` for its ``version_key``."""
    _memos.add(memo)


def shared_version(redis, version_key: str) -> bytes | None:
    """The current version (None without Redis); raises RedisError."""
    if redis is None:
        return None
    version = redis.get(version_key)
    if version is None:
        # Redis lost it (a restart): start a new version that every process shares.
        redis.set(version_key, os.urandom(8).hex(), nx=True)
        version = redis.get(version_key)
    return version


def bump(redis, version_key: str) -> None:
    """Tell every process to reload (call after the change is committed)."""
    for memo in list(_memos):
        if memo.version_key == version_key:
            memo.forget()
    if redis is None:
        return
    try:
        redis.set(version_key, os.urandom(8).hex())
    except redis_lib.RedisError:
        # Every copy is reloaded within max_age anyway.
        log.warning("could not announce an admin change", key=version_key, exc_info=True)


class VersionedMemo(Generic[T]):
    def __init__(
        self,
        redis,
        version_key: str,
        load: Callable[[], T],
        *,
        check_seconds: float = 1.0,
        max_age: float = 60.0,
    ):
        self.redis = redis
        self.version_key = version_key
        self.load = load
        self.check_seconds = check_seconds
        self.max_age = max_age
        self._lock = threading.Lock()
        self._value: T | None = None
        self._version: bytes | None = None
        self._loaded_at = float("-inf")
        self._checked_at = float("-inf")
        register_local(self)

    def fresh_value(self) -> T | None:
        """The value if it was confirmed lately, without any I/O; else None."""
        if time.monotonic() - self._checked_at < self.check_seconds:
            return self._value
        return None

    def get(self) -> T:
        value = self.fresh_value()
        if value is not None:
            return value
        # Past this point the value needs Redis, perhaps PostgreSQL: not on the event loop.
        nonblocking.check()
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < self.check_seconds and self._value is not None:
                return self._value
            version = self._current_version()
            if (
                self._value is None
                or version != self._version
                or version is None
                or now - self._loaded_at > self.max_age
            ):
                self._value = self.load()
                self._version = version
                self._loaded_at = now
            self._checked_at = now
            return self._value

    def _current_version(self) -> bytes | None:
        try:
            return shared_version(self.redis, self.version_key)
        except redis_lib.RedisError:
            return None

    def forget(self) -> None:
        """Reload on the next read (this process's own writes, tests)."""
        with self._lock:
            self._checked_at = float("-inf")
            self._value = None
