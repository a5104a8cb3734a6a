"""The purge task: the CDN forgets responses tagged with these surrogate keys.

A committed change purges the keys its journal entries name: :func:`purge_after_commit` is
one of the reactions in :mod:`warehouse.effects`, run after the read caches are invalidated,
so a CDN refetch after the purge already gets the new page. It purges at once and once more
a few seconds later, for a page a CDN fetched while the change was committing.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from warehouse.cdn.keys import keys_for_entry
from warehouse.packaging.journal import Entry
from warehouse.settings import Settings
from warehouse.tasks import app

log = structlog.get_logger(__name__)


@app.task(name="warehouse.cdn.tasks.purge_keys", bind=True)
def purge_keys(self, keys: list[str]) -> None:
    self.ctx.purger.purge(keys)
    log.info("purged", keys=keys)


def purge_after_commit(settings: Settings, entries: Iterable[Entry]) -> None:
    """Purge the CDN (now, and once more a little later) of what these entries changed."""
    if settings.cdn_backend == "none":
        return
    keys = sorted(set().union(*(keys_for_entry(entry) for entry in entries)))
    if not keys:
        return
    purge_keys.send_now((keys,))
    if settings.cdn_repurge_seconds > 0:
        purge_keys.send_now((keys,), countdown=settings.cdn_repurge_seconds)
