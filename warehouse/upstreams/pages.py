"""What the simple pages, the JSON API and the website ask of upstreams when they render
(once per serial, not per request: pages are cached by serial)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from warehouse.packaging.models import Project
from warehouse.upstreams.models import Upstream, UpstreamProject


class Origin(NamedTuple):
    name: str  # the upstream's name here
    url: str  # its simple index root
    shared: bool  # the project also has files uploaded here (an allowance)

    @property
    def public_url(self) -> str:
        """The index root without any credentials a URL may carry (shown to anyone)."""
        return public_url(self.url)


def public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def upstream_of(session, project_id: int) -> Origin | None:
    """The upstream a project is mirrored from, if it is."""
    row = session.execute(
        sa.select(Upstream.name, Upstream.url, UpstreamProject.shared)
        .join(UpstreamProject, UpstreamProject.upstream_id == Upstream.id)
        .where(UpstreamProject.project_id == project_id)
    ).one_or_none()
    return Origin(*row) if row is not None else None


def upstreams_of(session, normalized_names: Iterable[str]) -> dict[str, Origin]:
    """normalized name -> the upstream it is mirrored from, for those of ``normalized_names``
    that are mirrored (one query for a page of search results)."""
    names = list(set(normalized_names))
    if not names:
        return {}
    rows = session.execute(
        sa.select(Project.normalized_name, Upstream.name, Upstream.url, UpstreamProject.shared)
        .join(UpstreamProject, UpstreamProject.project_id == Project.id)
        .join(Upstream, Upstream.id == UpstreamProject.upstream_id)
        .where(Project.normalized_name.in_(names))
    ).all()
    return {row[0]: Origin(*row[1:]) for row in rows}
