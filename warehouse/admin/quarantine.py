"""The files of quarantined projects, as every process that serves downloads knows them.

Downloads never touch the database, so the quarantined projects' blob keys are kept in
memory (:class:`~warehouse.admin.memo.VersionedMemo`): a quarantine's commit bumps the
version in Redis, and each process reloads the set within a second.
"""

from __future__ import annotations

from warehouse.admin.memo import VersionedMemo
from warehouse.admin.services import (
    BLOCKLIST_CHECK_SECONDS,
    QUARANTINE_VERSION_KEY,
    quarantined_blob_keys,
)

REGISTRY_KEY = "admin.blocked_blobs"


class BlobBlocklist:
    def __init__(self, redis, session_factory, **memo_options):
        self.session_factory = session_factory
        memo_options.setdefault("check_seconds", BLOCKLIST_CHECK_SECONDS)
        self.memo = VersionedMemo(redis, QUARANTINE_VERSION_KEY, self._load, **memo_options)

    def _load(self) -> frozenset[str]:
        with self.session_factory() as session:
            return quarantined_blob_keys(session)

    def blocks(self, key: str) -> bool:
        """Whether ``key`` belongs to a quarantined project (may read Redis, PostgreSQL)."""
        return key in self.memo.get()

    def surely_allows(self, key: str) -> bool:
        """True only if this process confirmed lately that ``key`` is not blocked (no I/O)."""
        keys = self.memo.fresh_value()
        return keys is not None and key not in keys
