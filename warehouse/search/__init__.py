"""Search: :class:`ISearchService` and its PostgreSQL full-text backend.

The index is kept current as changes commit (:mod:`warehouse.search.indexing`, one of the
reactions in :mod:`warehouse.effects`).
"""

from __future__ import annotations

import warehouse.search.models  # noqa: F401  (registers the table with the metadata)
from warehouse.search.indexing import (
    mark_project_changed,
    rebuild_all,
    reindex_project_in_session,
)
from warehouse.search.interfaces import ISearchService, SearchHit, SearchResults
from warehouse.search.postgres import PostgresSearchService, search_service_factory

__all__ = [
    "ISearchService",
    "PostgresSearchService",
    "SearchHit",
    "SearchResults",
    "mark_project_changed",
    "rebuild_all",
    "reindex_project_in_session",
]


def includeme(config) -> None:
    # Idempotent, so that tests can include it whether or not configure() already has.
    if config.registry.get("warehouse.search.included"):
        return
    config.registry["warehouse.search.included"] = True
    config.register_service_factory(search_service_factory, ISearchService)
