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
