"""What the simple pages and the JSON API ask of upstreams when they render (once per serial,
not per request: pages are cached by serial)."""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from warehouse.upstreams.models import Upstream, UpstreamProject


class Origin(NamedTuple):
    name: str  # the upstream's name here
    url: str  # its simple index root
    shared: bool  # the project also has files uploaded here (an allowance)


def upstream_of(session, project_id: int) -> Origin | None:
    """The upstream a project is mirrored from, if it is."""
    row = session.execute(
        sa.select(Upstream.name, Upstream.url, UpstreamProject.shared)
        .join(UpstreamProject, UpstreamProject.upstream_id == Upstream.id)
        .where(UpstreamProject.project_id == project_id)
    ).one_or_none()
    return Origin(*row) if row is not None else None
