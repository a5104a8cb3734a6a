"""The long jobs' runs, as the operator sees them on the queues page.

Each domain that runs long jobs (log ingest, storage verification, scans, upstream syncs)
owns one function here that reads its own checkpoint tables and answers ``JobRun`` rows; the
page shows them all in one table. A domain adds its function to ``SOURCES`` and nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterable

import sqlalchemy as sa
import structlog

log = structlog.get_logger(__name__)

RECENT_RUNS = 5


@dataclasses.dataclass(frozen=True)
class JobRun:
    kind: str  # what runs: "Log ingest", "Storage verify", "Scan", "Upstream sync"
    name: str  # which run: its id, the store, the upstream's name
    state: str  # "running", "finished", "failed", "waiting"
    done: int | None = None
    total: int | None = None
    started: datetime.datetime | None = None
    updated: datetime.datetime | None = None
    detail: str = ""
    url: str | None = None

    @property
    def percent(self) -> int | None:
        if self.done is None or not self.total:
            return None
        return min(100, int(100 * self.done / self.total))


def log_ingest(session) -> Iterable[JobRun]:
    from warehouse.stats.metrics import lag_seconds
    from warehouse.stats.models import CountedLog

    counted, newest_object = session.execute(
        sa.select(sa.func.count(), sa.func.max(CountedLog.counted_at))
    ).one()
    lag = lag_seconds(session)
    detail = (
        "nothing counted yet"
        if lag is None
        else f"lag {_duration(lag)} (age of the newest download counted)"
    )
    yield JobRun(
        kind="Log ingest",
        name="CDN logs",
        state="running" if counted else "waiting",
        done=counted,
        updated=newest_object,
        detail=f"{counted} log objects counted; {detail}",
    )


def storage_verify(session) -> Iterable[JobRun]:
    from warehouse.storage.verify.models import VerifyProblem, VerifyRange, VerifyRun

    runs = session.scalars(sa.select(VerifyRun).order_by(VerifyRun.id.desc()).limit(RECENT_RUNS))
    for run in runs:
        keys_done, updated = session.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(VerifyRange.keys_done), 0),
                sa.func.max(VerifyRange.updated_at),
            ).where(VerifyRange.run_id == run.id)
        ).one()
        problems = session.scalar(sa.select(sa.func.count()).where(VerifyProblem.run_id == run.id))
        kind = "deep" if run.deep else "listing"
        yield JobRun(
            kind="Storage verify",
            name=f"run {run.id} · {run.store}",
            state="finished" if run.finished_at else "running",
            done=int(keys_done),
            total=run.expected_keys or None,
            started=run.started_at,
            updated=run.finished_at or updated,
            detail=f"{kind}{', repair' if run.repair else ''}"
            f"{', rolling' if run.rolling else ''}; {problems} problems",
        )


def scan_runs(session) -> Iterable[JobRun]:
    from warehouse.scanning.runs import recent_runs

    for p in recent_runs(session, RECENT_RUNS):
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(p.by_verdict.items()))
        yield JobRun(
            kind="Scan",
            name=f"run {p.run.id} · {p.run.scope}",
            state=p.state,
            done=p.done + p.failed,
            total=p.run.total,
            started=p.run.created,
            updated=p.run.finished or p.updated,
            detail=f"rules {p.run.rules_version}; {verdicts or 'no verdict yet'}"
            f"{f'; {p.failed} failed' if p.failed else ''}",
            url=f"/admin/scanning/runs/{p.run.id}/",
        )


def upstream_syncs(session) -> Iterable[JobRun]:
    from warehouse.upstreams.status import job_runs

    yield from job_runs(session)


SOURCES: list[Callable[..., Iterable[JobRun]]] = [
    log_ingest,
    storage_verify,
    scan_runs,
    upstream_syncs,
]


def recent_runs(session) -> tuple[list[JobRun], list[str]]:
    """Every source's runs, and a sentence for each source that could not answer."""
    runs: list[JobRun] = []
    errors: list[str] = []
    for source in SOURCES:
        try:
            with session.begin_nested():
                runs.extend(source(session))
        except Exception as exc:  # noqa: BLE001 - one broken source must not hide the others
            log.warning("admin.jobs.source_failed", source=source.__name__, error=str(exc))
            errors.append(f"{source.__name__}: {exc}")
    return runs, errors


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
