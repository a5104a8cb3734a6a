"""Upstream sync tasks, on the ``upstreams`` queue (see warehouse.tasks.TASK_QUEUES).

``sync_all`` (beat, every ``upstream_sync_seconds``) discovers each upstream's changes and
sends one ``sync_project`` task per queued project, plus the queued projects of an earlier
pass that no task finished (a worker killed mid-pass); ``fetch_file`` keeps one file of an
``immediate`` upstream.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
import structlog

from warehouse.db import utcnow
from warehouse.tasks import app
from warehouse.upstreams import sync
from warehouse.upstreams.client import UpstreamUnavailable
from warehouse.upstreams.models import Policy, Upstream

log = structlog.get_logger(__name__)

# A queued project whose task was sent this long ago without finishing is sent again.
RESEND_AFTER = datetime.timedelta(minutes=10)


@app.task(name="warehouse.upstreams.tasks.sync_all", bind=True)
def sync_all(self) -> dict[str, int]:
    sent: dict[str, int] = {}
    with self.ctx.session() as session:
        upstreams = session.execute(sa.select(Upstream.id, Upstream.name)).all()
    for upstream_id, name in upstreams:
        try:
            sent[name] = start_pass(self.ctx, upstream_id)
        except UpstreamUnavailable as exc:
            log.warning("upstream.unavailable", upstream=name, error=str(exc))
            _mark_failed(self.ctx, upstream_id, str(exc))
    with self.ctx.session() as session:
        for upstream_id, normalized in sync.stale_on_demand_projects(session):
            sync_project.delay(upstream_id, normalized)
    return sent


def start_pass(ctx, upstream_id: int, *, force: bool = False) -> int:
    """Discover changes and send a task for each project queued (new or left over)."""
    sync.discover(ctx, upstream_id, force=force)
    with ctx.session() as session:
        names = sync.queued_names(session, upstream_id, due_before=utcnow() - RESEND_AFTER)
    for normalized in names:
        sync_project.delay(upstream_id, normalized)
    return len(names)


def _mark_failed(ctx, upstream_id: int, detail: str) -> None:
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        if upstream is not None:
            upstream.state = "failed"
            upstream.state_detail = detail[:500]


@app.task(
    name="warehouse.upstreams.tasks.sync_project",
    bind=True,
    autoretry_for=(UpstreamUnavailable, *app.Task.autoretry_for),
)
def sync_project(self, upstream_id: int, normalized: str) -> int:
    applied = sync.sync_project(self.ctx, upstream_id, normalized)
    with self.ctx.session() as session:
        policy = session.scalar(sa.select(Upstream.policy).where(Upstream.id == upstream_id))
    if policy == Policy.immediate.value:
        for file_id in applied.new_file_ids:
            fetch_file.delay(file_id)
    return len(applied.new_file_ids)


@app.task(
    name="warehouse.upstreams.tasks.fetch_file",
    bind=True,
    autoretry_for=(UpstreamUnavailable, *app.Task.autoretry_for),
)
def fetch_file(self, file_id: int) -> str:
    from warehouse.upstreams.fetch import fetch_into_archive

    return fetch_into_archive(self.ctx, file_id)


@app.task(name="warehouse.upstreams.tasks.sync_upstream", bind=True)
def sync_upstream(self, upstream_id: int) -> int:
    """One upstream's pass, asked for from the admin pages."""
    try:
        return start_pass(self.ctx, upstream_id)
    except UpstreamUnavailable as exc:
        _mark_failed(self.ctx, upstream_id, str(exc))
        raise
