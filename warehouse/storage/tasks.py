"""Tasks that fill and check the cache store; see :mod:`warehouse.storage.cache`."""

from __future__ import annotations

from warehouse.storage import cache
from warehouse.tasks import app


@app.task(name="warehouse.storage.tasks.copy_to_cache", bind=True)
def copy_to_cache(self, file_id: int) -> None:
    if self.ctx.has_separate_cache:
        cache.copy_file(self.ctx, file_id)


@app.task(name="warehouse.storage.tasks.reconcile_cache", bind=True)
def reconcile_cache(self) -> int:
    return cache.reconcile(self.ctx)


@app.task(name="warehouse.storage.tasks.audit_cache", bind=True)
def audit_cache(self) -> dict:
    counts = cache.audit(self.ctx)
    cache.reconcile(self.ctx)
    return counts


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
