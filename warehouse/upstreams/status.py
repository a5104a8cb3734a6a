"""Each upstream's sync, as the admin queues page shows it (warehouse.admin.jobs)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from warehouse.upstreams.models import Upstream, UpstreamProject, UpstreamQueueItem

_STATES = {"syncing": "running", "idle": "finished", "failed": "failed"}


def job_runs(session) -> Iterable:
    from warehouse.admin.jobs import JobRun

    mirrored = (
        sa.select(sa.func.count())
        .where(UpstreamProject.upstream_id == Upstream.id)
        .scalar_subquery()
    )
    queued = (
        sa.select(sa.func.count())
        .where(UpstreamQueueItem.upstream_id == Upstream.id)
        .scalar_subquery()
    )
    failing = (
        sa.select(sa.func.count())
        .where(UpstreamQueueItem.upstream_id == Upstream.id, UpstreamQueueItem.last_error != "")
        .scalar_subquery()
    )
    for upstream, projects, waiting, errors in session.execute(
        sa.select(Upstream, mirrored, queued, failing).order_by(Upstream.name)
    ):
        if upstream.has_serials is False:
            serials = "no serials: pages on demand"
        else:
            serials = f"serial {upstream.last_serial}"
            if upstream.target_serial and upstream.target_serial > upstream.last_serial:
                serials += f" of {upstream.target_serial}"
        detail = f"{upstream.policy}; {serials}; {projects} projects mirrored"
        if waiting:
            detail += f"; {waiting} queued"
        if errors:
            detail += f"; {errors} failing"
        if upstream.state_detail:
            detail += f"; {upstream.state_detail}"
        yield JobRun(
            kind="Upstream sync",
            name=upstream.name,
            state=_STATES.get(upstream.state, upstream.state)
            if upstream.last_sync_started
            else "waiting",
            done=projects,
            total=projects + waiting if waiting else None,
            started=upstream.last_sync_started,
            updated=upstream.last_sync_finished,
            detail=detail,
            url=None,
        )
