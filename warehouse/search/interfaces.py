"""What other packages may ask of search: :class:`ISearchService` and its results."""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import NamedTuple

from zope.interface import Interface

ORDERS = ("relevance", "-created", "created")


class SearchHit(NamedTuple):
    name: str
    normalized_name: str
    version: str
    summary: str | None
    # When the shown version was uploaded.
    created: datetime.datetime


@dataclasses.dataclass(frozen=True)
class SearchResults:
    # Exact up to a limit (10,000 for PostgreSQL); beyond it, the limit and
    # ``total_is_lower_bound`` set: "10,000+ projects".
    total: int
    items: list[SearchHit]
    page: int
    per_page: int
    total_is_lower_bound: bool = False

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count


class ISearchService(Interface):
    def search(query, classifiers=(), order="relevance", page=1, per_page=20):
        """Projects matching ``query`` (free text) as :class:`SearchResults`.

        An exact (normalized) name match comes first; then by ``order``: ``"relevance"``,
        ``"-created"`` (newest first) or ``"created"``. Each of ``classifiers`` must match
        one of the project's classifiers exactly or as a prefix (``"Framework :: Django"``
        matches ``"Framework :: Django :: 5.0"``). An empty query lists every project.
        """

    def index_project(project_id):
        """Bring the project's entry up to date, in the caller's transaction."""

    def remove_project(normalized_name):
        """Drop the project's entry, in the caller's transaction."""
