"""What the simple pages ask of upstreams when they render (once per serial)."""

from __future__ import annotations

import sqlalchemy as sa

from warehouse.upstreams.models import Upstream, UpstreamProject


def shared_with_upstream(session, project_id: int) -> str | None:
    """The index URL of the upstream this project also comes from, when it is a local
    project an admin allowed from an upstream too (PEP 708's ``tracks``)."""
    return session.scalar(
        sa.select(Upstream.url)
        .join(UpstreamProject, UpstreamProject.upstream_id == Upstream.id)
        .where(UpstreamProject.project_id == project_id, UpstreamProject.shared.is_(True))
    )
