"""The files of quarantined projects, as every process that serves downloads knows them.

Downloads touch neither PostgreSQL nor Redis (they must keep working while either is down,
and small ones are answered on the event loop), so each process keeps the quarantined
projects' blob keys in memory. A background thread per process checks the version key in
Redis every ``interval`` seconds and reloads the keys from PostgreSQL when it changed (and
every ``max_age`` seconds whatever Redis says); a quarantine bumps that version after its
commit. So a download costs one set lookup, and a change reaches every process within
about ``BLOCKLIST_CHECK_SECONDS``. If PostgreSQL or Redis is down the last keys stay in use.
"""

from __future__ import annotations

import os
import threading
import time
import weakref

import structlog

from warehouse import nonblocking
from warehouse.admin.memo import register_local, shared_version
from warehouse.admin.services import (
    BLOCKLIST_CHECK_SECONDS,
    QUARANTINE_VERSION_KEY,
    quarantined_blob_keys,
)

log = structlog.get_logger(__name__)

REGISTRY_KEY = "admin.blocked_blobs"


class BlobBlocklist:
    version_key = QUARANTINE_VERSION_KEY

    def __init__(
        self,
        redis,
        session_factory,
        *,
        interval: float = BLOCKLIST_CHECK_SECONDS / 2,
        max_age: float = 60.0,
    ):
        self.redis = redis
        self.session_factory = session_factory
        self.interval = interval
        self.max_age = max_age
        self._keys: frozenset[str] = frozenset()
        self._version: bytes | None = None
        self._loaded_at: float | None = None
        self._lock = threading.Lock()
        self._refresher_pid: int | None = None
        self._loaded_pid: int | None = None
        register_local(self)

    # Reading (the download path: no I/O) ------------------------------------------------

    def blocks(self, key: str) -> bool:
        if self._refresher_pid != os.getpid():
            if self._loaded_pid != os.getpid():
                # A forked worker: what it inherited may predate a quarantine. Load once
                # here (off the event loop) before answering.
                nonblocking.check()
                self.refresh(force=True)
            self._start_refresher()
        return key in self._keys

    def surely_allows(self, key: str) -> bool:
        return key not in self._keys

    # Refreshing (off the request path) --------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Reload the keys if the version moved, they are old, or ``force``; never raises."""
        with self._lock:
            try:
                version = shared_version(self.redis, self.version_key)
                stale = (
                    self._loaded_at is None
                    or version is None
                    or version != self._version
                    or time.monotonic() - self._loaded_at > self.max_age
                )
                if not (stale or force):
                    return
                with self.session_factory() as session:
                    self._keys = quarantined_blob_keys(session)
                self._loaded_pid = os.getpid()
                self._version = version
                self._loaded_at = time.monotonic()
            except Exception:  # noqa: BLE001 - keep serving with the keys we have
                log.warning("could not reload the quarantined files", exc_info=True)

    def forget(self) -> None:
        """This process committed a change: reload now (see :func:`memo.bump`)."""
        self.refresh(force=True)

    def _start_refresher(self) -> None:
        with self._lock:
            if self._refresher_pid == os.getpid():
                return
            self._refresher_pid = os.getpid()
        thread = threading.Thread(
            target=_refresh_forever,
            args=(weakref.ref(self), self.interval),
            name="quarantine-blocklist",
            daemon=True,
        )
        thread.start()


def _refresh_forever(blocklist_ref: weakref.ref, interval: float) -> None:
    # Holds the blocklist only while refreshing it: the thread ends with the application.
    while (blocklist := blocklist_ref()) is not None:
        blocklist.refresh()
        del blocklist
        time.sleep(interval)
