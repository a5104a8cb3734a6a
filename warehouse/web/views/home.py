"""``/``: the home page."""

from __future__ import annotations

from pyramid.view import view_config

from warehouse.web import queries


@view_config(route_name="index", renderer="home.html", request_method="GET")
def home(request):
    return {
        "stats": queries.site_stats(request.db, request.registry.get("redis.client")),
        "newest_releases": queries.newest_releases(request.db),
    }


def includeme(config) -> None:
    config.add_route("index", "/")
    config.scan(__name__)
