"""The change feed for mirrors: ``GET /api/changes``."""

from __future__ import annotations


def includeme(config) -> None:
    from warehouse.changes.views import changes_view

    config.add_route("changes", "/api/changes")
    config.add_view(changes_view, route_name="changes", request_method=("GET", "HEAD"))
