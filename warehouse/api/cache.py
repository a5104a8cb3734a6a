"""Rendered pages cached by serial, and the hook that tells readers a project changed.

A read-API page is a pure function of the database at one serial, so it is rendered once per
serial and kept as bytes: in a small per-process LRU and in Redis under
``<variant>:<serial>``. Since the serial is part of the key, cached bytes never go stale; what
can go stale is the reader's idea of the *current* serial, which lives in Redis:

* ``serial:project:<normalized>`` -- the project's ``last_serial``;
* ``serial:index`` -- the global serial (newest journal id), which the index depends on.

A key holds either a number (the serial) or a tombstone ``stale:<nonce>``. Writers replace it
with a fresh tombstone after they commit (:func:`invalidate_project`); a reader that finds no
number reads the serial from the database and publishes it with a compare-and-set against the
value it saw *before* its database snapshot began. So a reader whose snapshot predates a commit
cannot overwrite the tombstone that commit's invalidation wrote, and the published serial never
goes backwards past an invalidation. The keys also expire, which bounds the damage of a writer
that crashed between its commit and its invalidation.

Even one Redis round trip per request costs more than the rest of a cached request, so each
process also remembers serials it has learned (:class:`SerialMemo`) and forgets them when the
invalidation, which is also published on a Redis channel, reaches its listener thread. That
thread also re-confirms what the process remembers, off the request path. A serial whose key
merely expired in Redis is read again from the database there, under the same rules as a
reader (Redis first, then the snapshot, then a compare-and-set), and published again if it has
not changed. Otherwise, every ``SERIAL_TTL``, the next request for each project would take the
slow path.

Every page is rendered inside one REPEATABLE READ transaction that reads the serial first, so
the bytes stored under a serial are exactly the data at that serial: a reader can never see a
new serial with old content, nor content newer than its serial.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis as redis_lib
import structlog
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse import nonblocking

log = structlog.get_logger(__name__)

INDEX_SERIAL_KEY = "serial:index"
INVALIDATION_CHANNEL = "warehouse:api:invalidated"
# How long a published serial is trusted without an invalidation; see the module docstring.
SERIAL_TTL = 600
# The same for a serial remembered by one process (which also hears invalidations). The
# listener re-confirms what the process remembers against Redis well within this, off the
# request path, so an installer's request rarely finds its project's serial expired.
MEMO_TTL = 60
# Rendered bytes are immutable; the TTL only lets old serials' pages fall out of Redis.
CONTENT_TTL = 24 * 3600
# Pages of the whole index (list_packages_with_serial: 61 MB at 700,000 projects) are
# superseded by any journaled change anywhere, so each serial asked for is a new copy: kept
# a day, a copy per minute's question would be 88 GB of Redis. Kept minutes, a few at once.
INDEX_CONTENT_TTL = 300
LRU_BYTES = 64 * 1024 * 1024
# After a Redis error, how long this process serves from the database without asking Redis
# (a failing call can spend seconds in the client's retries).
REDIS_RETRY_AFTER = 10

_TOMBSTONE = b"stale:"

# Reads a serial in a database session: None if the thing it is the serial of does not exist.
ReadSerial = Callable[[orm.Session], int | None]

# At most this many keys are read from Redis in one MGET, and re-read from the database in one
# refresh of the memo (which runs on the listener thread and holds up its invalidations).
REFRESH_BATCH = 1000

# SET key to ARGV[2] only if it still holds ARGV[1] ('' meaning: missing).
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def project_serial_key(normalized_name: str) -> str:
    return f"serial:project:{normalized_name}"


# Invalidation ---------------------------------------------------------------------------


def invalidate_project(redis, normalized_name: str) -> None:
    """Make readers re-read the serial of ``normalized_name`` (and the global one) from the DB.

    Call it *after* the change is committed; calling it earlier as well does no harm.
    """
    _tombstone(redis, [project_serial_key(canonicalize_name(normalized_name))])


def invalidate_projects(redis, normalized_names: Iterable[str]) -> None:
    """Invalidate these projects' pages (and the index) after a commit that changed them."""
    _tombstone(redis, {project_serial_key(name) for name in normalized_names})


def _tombstone(redis, keys: Iterable[str]) -> None:
    # A fresh nonce for every invalidation: a reader's compare-and-set against the value it saw
    # before the commit must fail, even if that value was an older tombstone.
    value = _TOMBSTONE + os.urandom(8).hex().encode()
    keys = [*keys, INDEX_SERIAL_KEY]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, value, ex=SERIAL_TTL)
    # After the SETs: a process that hears this must find the tombstones when it asks.
    pipe.publish(INVALIDATION_CHANNEL, " ".join(keys))
    try:
        pipe.execute()
    except redis_lib.RedisError as exc:
        # Nothing else to do: readers trust a serial for SERIAL_TTL seconds at most.
        log.error("read-api invalidation failed", keys=sorted(keys), error=str(exc))
    # This process need not wait for its own message: what it wrote, it reads next.
    for memo in list(_memos):
        memo.forget(keys)


# The per-process LRU -----------------------------------------------------------------------


class LRU:
    """Bytes by key, bounded by their total size; safe to share between threads."""

    def __init__(self, max_bytes: int = LRU_BYTES):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: collections.OrderedDict[Any, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value: bytes) -> None:
        if len(value) > self.max_bytes // 4:
            return  # one huge page must not flush everything else
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.size -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


# Serials remembered by this process ----------------------------------------------------


_memos: weakref.WeakSet[SerialMemo] = weakref.WeakSet()


class SerialMemo:
    """The serials this process has learned, forgotten when an invalidation is heard.

    Trusted only while the listener thread is subscribed: it forgets everything whenever it
    (re)subscribes, since invalidations published while it was away are lost. A reader
    takes :attr:`generation` *before* asking Redis or the database, and :meth:`remember`
    refuses the answer if an invalidation arrived meanwhile: the answer may predate it.

    Given ``snapshot`` (as for :class:`PageCache`), :meth:`refresh` re-reads from the database
    the serials remembered with a ``reread`` whose Redis keys expired.
    """

    def __init__(
        self,
        redis,
        ttl: float = MEMO_TTL,
        snapshot: Callable[[], contextlib.AbstractContextManager] | None = None,
    ):
        self.redis = redis
        self.ttl = ttl
        self.snapshot = snapshot
        self.generation = 0
        # key -> (serial, expiry, how to re-read the serial from the database, if known)
        self._serials: dict[str, tuple[int, float, ReadSerial | None]] = {}
        self._trusted = False
        self._listener_pid: int | None = None
        self._lock = threading.Lock()
        self._starting = threading.Lock()
        self._cas = redis.register_script(_COMPARE_AND_SET)
        _memos.add(self)

    def get(self, key: str) -> int | None:
        if self._listener_pid != os.getpid():
            self._start_listener()
        if not self._trusted:
            return None
        entry = self._serials.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def remember(
        self, key: str, serial: int, generation: int, reread: ReadSerial | None = None
    ) -> None:
        with self._lock:
            if self._trusted and generation == self.generation:
                self._serials[key] = (serial, time.monotonic() + self.ttl, reread)

    def forget(self, keys) -> None:
        with self._lock:
            self.generation += 1
            for key in keys:
                self._serials.pop(key, None)

    def refresh(self) -> int:
        """Re-confirm every remembered serial against Redis; returns how many were kept.

        A serial Redis still holds is trusted for another TTL; one that changed, or became a
        tombstone, is forgotten. One whose key is missing (it expired) is re-read from the
        database if the memo knows how, and kept (and published again) if unchanged. Nothing
        is kept if an invalidation arrived meanwhile (it may postdate what Redis answered).
        """
        with self._lock:
            generation = self.generation
            entries = list(self._serials.items())
        if not entries:
            return 0
        keys = [key for key, _ in entries]
        values = []
        for start in range(0, len(keys), REFRESH_BATCH):
            values.extend(self.redis.mget(keys[start : start + REFRESH_BATCH]))
        confirmed: dict[str, int] = {}
        missing: list[tuple[str, int, ReadSerial]] = []
        for (key, (serial, _, reread)), value in zip(entries, values, strict=True):
            if _as_serial(value) == serial:
                confirmed[key] = serial
            # Beyond one batch, expired keys are dropped, as if the memo could not re-read
            # them: their next request reads them once, and the listener is not held up.
            elif value is None and reread is not None and len(missing) < REFRESH_BATCH:
                missing.append((key, serial, reread))
        if missing and self.snapshot is not None and generation == self.generation:
            confirmed.update(self._revalidate(missing))
        expires = time.monotonic() + self.ttl
        kept = 0
        with self._lock:
            if generation != self.generation:
                return 0
            for key in keys:
                entry = self._serials.get(key)
                if entry is not None and confirmed.get(key) == entry[0]:
                    self._serials[key] = (entry[0], expires, entry[2])
                    kept += 1
                else:
                    self._serials.pop(key, None)
        return kept

    def _revalidate(self, missing: list[tuple[str, int, ReadSerial]]) -> dict[str, int]:
        """Those of ``missing`` (expired in Redis) the database still holds, now published."""
        try:
            # The snapshot begins after the MGET that found these keys missing: see the module
            # docstring.
            with self.snapshot() as session:
                unchanged = {
                    key: serial for key, serial, reread in missing if reread(session) == serial
                }
            if unchanged:
                pipe = self.redis.pipeline(transaction=False)
                for key, serial in unchanged.items():
                    self.publish(key, None, serial, client=pipe)
                pipe.execute()
        except Exception as exc:  # the database or Redis; the listener must carry on
            log.warning("read-api memo could not re-read expired serials", error=str(exc))
            return {}
        # Kept even where the compare-and-set failed: either another process published the
        # same serial, or an invalidation wrote a tombstone, whose message this thread handles
        # as soon as this refresh returns.
        return unchanged

    def publish(self, key: str, observed: bytes | None, serial: int, client=None) -> None:
        """Store ``serial`` under ``key`` in Redis, unless the key no longer holds ``observed``.

        ``observed`` is what the key held before the database snapshot that read ``serial``
        began (None: missing), so a serial read before a commit cannot overwrite the tombstone
        of that commit's invalidation.
        """
        self._cas(keys=[key], args=[observed or b"", serial, SERIAL_TTL], client=client)

    def _reset(self, *, trusted: bool) -> None:
        with self._lock:
            self.generation += 1
            self._serials.clear()
            self._trusted = trusted

    def _start_listener(self) -> None:
        # Lazily, and again after a fork: threads do not survive into gunicorn's workers.
        with self._starting:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._reset(trusted=False)
            threading.Thread(
                target=_listen,
                args=(weakref.ref(self),),
                name="read-api-invalidations",
                daemon=True,
            ).start()


def _listen(memo_ref: weakref.ref) -> None:
    """Forward invalidations to the memo; ends when the memo is garbage."""
    failing = False
    while (memo := memo_ref()) is not None:
        pubsub = memo.redis.pubsub()
        refresh_every = memo.ttl / 3
        del memo  # hold no reference while waiting, so the memo can be collected
        try:
            pubsub.subscribe(INVALIDATION_CHANNEL)
            next_refresh = time.monotonic() + refresh_every
            while True:
                message = pubsub.get_message(timeout=1.0)
                if (memo := memo_ref()) is None:
                    return
                if message is None:
                    pass
                elif message["type"] == "subscribe":
                    memo._reset(trusted=True)
                    failing = False
                elif message["type"] == "message":
                    memo.forget(message["data"].decode().split())
                if time.monotonic() >= next_refresh:
                    memo.refresh()
                    next_refresh = time.monotonic() + refresh_every
                del memo
        except Exception as exc:  # connection errors, but also a client closed under us
            if not failing:
                log.warning("read-api invalidation listener lost Redis; retrying", error=str(exc))
            failing = True
        finally:
            if (memo := memo_ref()) is not None:
                memo._reset(trusted=False)
            del memo
            pubsub.close()
        time.sleep(1)


# Reading through the caches -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Lookup:
    """What a page lookup found.

    ``serial`` is None when the thing the page is about does not exist. ``body`` is the page;
    when the renderer decided on something else (a redirect, a 404 inside an existing
    project) ``body`` is None and ``other`` holds its answer, which is never cached.
    """

    serial: int | None
    body: bytes | None = None
    other: Any = None


class PageCache:
    def __init__(self, redis, snapshot: Callable[[], contextlib.AbstractContextManager], lru=None):
        self.redis = redis
        self.snapshot = snapshot
        self.lru = lru if lru is not None else LRU()
        self.memo = SerialMemo(redis, snapshot=snapshot)
        self._redis_down_until = 0.0

    def get(
        self,
        serial_key: str,
        variant: str,
        read_serial: ReadSerial,
        render: Callable[[orm.Session, int], Any],
    ) -> Lookup:
        """The page ``variant`` at the current serial named by ``serial_key``.

        ``read_serial`` and ``render`` (given the serial read) run in one database snapshot,
        only when the caches cannot answer; ``render`` returns the page's bytes, or anything
        else to say the page is not a page (see :class:`Lookup`).
        """
        # Everything is read before the snapshot begins: see the module docstring.
        generation = self.memo.generation
        serial = self.memo.get(serial_key)
        if serial is not None:
            body = self._cached(variant, serial)
            if body is not None:
                return Lookup(serial, body)

        # Past this point the page needs Redis or the database.
        nonblocking.check()
        observed = self._redis(self.redis.get, serial_key)
        serial = _as_serial(observed)
        if serial is not None:
            body = self._cached(variant, serial)
            if body is not None:
                self.memo.remember(serial_key, serial, generation, read_serial)
                return Lookup(serial, body)

        with self.snapshot() as session:
            current = read_serial(session)
            if current is None:
                return Lookup(None)
            body = self._cached(variant, current)
            if body is None:
                rendered = render(session, current)
                if not isinstance(rendered, bytes):
                    return Lookup(current, None, rendered)
                body = rendered
                ttl = INDEX_CONTENT_TTL if serial_key == INDEX_SERIAL_KEY else CONTENT_TTL
                self._store(variant, current, body, ttl)
        if current != serial:
            self._publish(serial_key, observed, current)
        self.memo.remember(serial_key, current, generation, read_serial)
        return Lookup(current, body)

    def _cached(self, variant: str, serial: int) -> bytes | None:
        key = f"{variant}:{serial}"
        body = self.lru.get(key)
        if body is None:
            nonblocking.check()
            body = self._redis(self.redis.get, key)
            if body is not None:
                self.lru.put(key, body)
        return body

    def _store(self, variant: str, serial: int, body: bytes, ttl: int) -> None:
        key = f"{variant}:{serial}"
        self.lru.put(key, body)
        self._redis(self.redis.set, key, body, ex=ttl)

    def _publish(self, serial_key: str, observed: bytes | None, serial: int) -> None:
        self._redis(self.memo.publish, serial_key, observed, serial)

    def _redis(self, method, *args, **kwargs):
        # Redis is a cache here: when it is down, serials come from the database (and pages
        # from this process's LRU when it has them).
        if self._redis_down_until > time.monotonic():
            return None
        try:
            return method(*args, **kwargs)
        except redis_lib.RedisError as exc:
            self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER
            log.warning("read-api cache unavailable", error=str(exc))
            return None


def _as_serial(value: bytes | None) -> int | None:
    if value is None or value.startswith(_TOMBSTONE):
        return None
    try:
        return int(value)
    except ValueError:
        return None


@contextlib.contextmanager
def snapshot_session(engine) -> Iterator[orm.Session]:
    """A read-only session whose statements all see the snapshot taken by its first one."""
    with orm.Session(bind=engine) as session:
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        try:
            yield session
        finally:
            session.rollback()
