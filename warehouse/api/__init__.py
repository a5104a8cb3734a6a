"""Read APIs: simple (PEP 503/691/700) and PyPI's JSON API.

Changes reach the read caches through the journal: committing a journal entry invalidates
its project's pages (see :func:`warehouse.api.cache.invalidate_journaled_projects`).
:func:`invalidate_project` is for a change made outside the journal.
"""

from __future__ import annotations

import functools

from warehouse.api.cache import (
    PageCache,
    invalidate_project,
    snapshot_session,
)

__all__ = ["invalidate_project"]


def includeme(config) -> None:
    registry = config.registry
    registry["api.pages"] = PageCache(
        registry["redis.client"], functools.partial(snapshot_session, registry["db.engine"])
    )
    config.include("warehouse.api.simple")
    config.include("warehouse.api.json_api")
