"""``/rss/updates.xml``, ``/rss/packages.xml`` and ``/rss/project/<name>/releases.xml``."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from pyramid.response import Response

from warehouse.api.cache import snapshot_session
from warehouse.rss.feeds import (
    Channel,
    Item,
    find_project,
    latest_releases,
    newest_projects,
    render,
)

CACHE_CONTROL = "public, max-age=60"
CONTENT_TYPE = "application/rss+xml; charset=utf-8"


def _project_url(request, name: str) -> str:
    # The same page the JSON API's package_url points at.
    return f"{request.application_url}/project/{name}/"


def _release_items(request, rows) -> list[Item]:
    return [
        Item(
            title=f"{row.name} {row.version}",
            link=f"{_project_url(request, row.name)}{row.version}/",
            description=row.summary or "",
            published=row.created,
            author=row.author_email,
        )
        for row in rows
    ]


def _rss(body: bytes) -> Response:
    return Response(
        body=body,
        headerlist=[("Content-Type", CONTENT_TYPE), ("Cache-Control", CACHE_CONTROL)],
    )


def _host(request) -> str:
    return request.host.split(":")[0] or "this index"


def updates_view(request):
    with snapshot_session(request.registry["db.engine"]) as session:
        rows = latest_releases(session)
    channel = Channel(
        title=f"{_host(request)} recent updates",
        link=request.application_url + "/",
        description="The newest releases on this package index",
        self_link=request.url,
    )
    return _rss(render(channel, _release_items(request, rows)))


def packages_view(request):
    with snapshot_session(request.registry["db.engine"]) as session:
        rows = newest_projects(session)
    channel = Channel(
        title=f"{_host(request)} newest packages",
        link=request.application_url + "/",
        description="The newest projects on this package index",
        self_link=request.url,
    )
    items = [
        Item(
            title=f"{row.name} added to {_host(request)}",
            link=_project_url(request, row.name),
            description=row.summary or "",
            published=row.created,
        )
        for row in rows
    ]
    return _rss(render(channel, items))


def project_releases_view(request):
    name = request.matchdict["name"]
    normalized = canonicalize_name(name)
    if name != normalized:
        location = request.route_url("rss.project.releases", name=normalized)
        return Response(
            status=301, headerlist=[("Location", location), ("Cache-Control", CACHE_CONTROL)]
        )
    with snapshot_session(request.registry["db.engine"]) as session:
        project = find_project(session, normalized)
        rows = latest_releases(session, project.id) if project is not None else []
    if project is None:
        return Response(
            status=404,
            body=b"Not Found\n",
            headerlist=[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", CACHE_CONTROL),
            ],
        )
    channel = Channel(
        title=f"{_host(request)} recent updates for {project.name}",
        link=_project_url(request, project.name),
        description=f"Recent releases of {project.name}",
        self_link=request.url,
    )
    return _rss(render(channel, _release_items(request, rows)))
