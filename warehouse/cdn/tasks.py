"""The purge task: the CDN forgets responses tagged with these surrogate keys."""

from __future__ import annotations

import structlog

from warehouse.tasks import app

log = structlog.get_logger(__name__)


@app.task(name="warehouse.cdn.tasks.purge_keys", bind=True)
def purge_keys(self, keys: list[str]) -> None:
    self.ctx.purger.purge(keys)
    log.info("purged", keys=keys)
