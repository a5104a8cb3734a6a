"""RSS 2.0 feeds of new releases and new projects."""

from __future__ import annotations


def includeme(config) -> None:
    from warehouse.rss.views import packages_view, project_releases_view, updates_view

    config.add_route("rss.updates", "/rss/updates.xml")
    config.add_route("rss.packages", "/rss/packages.xml")
    config.add_route("rss.project.releases", "/rss/project/{name}/releases.xml")
    for route, view in (
        ("rss.updates", updates_view),
        ("rss.packages", packages_view),
        ("rss.project.releases", project_releases_view),
    ):
        config.add_view(view, route_name=route, request_method=("GET", "HEAD"))
