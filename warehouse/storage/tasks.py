"""Tasks that fill and check the cache store; see :mod:`warehouse.storage.replication`."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from warehouse.storage import replication
from warehouse.tasks import app

log = structlog.get_logger(__name__)


@app.task(name="warehouse.storage.tasks.copy_to_cache", bind=True)
def copy_to_cache(self, file_id: int) -> None:
    if self.ctx.has_separate_cache:
        replication.copy_file(self.ctx, file_id)


@app.task(name="warehouse.storage.tasks.reconcile_cache", bind=True)
def reconcile_cache(self) -> int:
    return replication.reconcile(self.ctx)


@app.task(name="warehouse.storage.tasks.audit_cache", bind=True)
def audit_cache(self) -> dict:
    counts = replication.audit(self.ctx)
    replication.reconcile(self.ctx)
    return counts


def send_copies(file_ids: Iterable[int]) -> None:
    """After the commit that added these files: one copy task each."""
    for file_id in sorted(set(file_ids)):
        try:
            copy_to_cache.send_now((file_id,))
        except Exception:  # noqa: BLE001 - the row is pending: reconcile copies it
            log.exception("could not send copy_to_cache", file_id=file_id)
