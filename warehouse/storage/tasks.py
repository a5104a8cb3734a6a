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


# Store verification (warehouse.storage.verify): on the "storage-verify" queue (see
# warehouse.tasks.celery_config), so that a pass over millions of keys never holds back a
# copy or a purge.


@app.task(name="warehouse.storage.tasks.verify_range", bind=True)
def verify_range(self, run_id: int, range_id: int) -> bool:
    from warehouse.storage.verify import runner

    return runner.verify_one_range(
        self.ctx, run_id, range_id, page_size=self.ctx.settings.verify_page_size
    )


@app.task(name="warehouse.storage.tasks.verify_slice", bind=True)
def verify_slice(self) -> dict[str, int]:
    from warehouse.storage.verify import rolling

    return rolling.verify_slice(
        self.ctx, send=lambda run_id, range_id: verify_range.delay(run_id, range_id)
    )
