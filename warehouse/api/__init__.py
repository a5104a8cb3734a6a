"""Read APIs: simple (PEP 503/691/700) and PyPI's JSON API.

Code that changes a project must tell the read caches after it commits; see
:func:`on_commit_invalidate` and :func:`invalidate_project`.
"""

from __future__ import annotations

import functools

from warehouse.api.cache import (
    PageCache,
    invalidate_project,
    on_commit_invalidate,
    snapshot_session,
)

__all__ = ["invalidate_project", "on_commit_invalidate"]


def includeme(config) -> None:
    registry = config.registry
    registry["api.pages"] = PageCache(
        registry["redis.client"], functools.partial(snapshot_session, registry["db.engine"])
    )
    config.include("warehouse.api.simple")
    config.include("warehouse.api.json_api")
