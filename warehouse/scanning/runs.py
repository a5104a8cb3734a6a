"""The global scan: every release in scope, one Celery task each, checkpointed in PostgreSQL.

A run is planned in one transaction (its row and one ``scan_run_items`` row per release, by
``INSERT … SELECT``, so memory stays flat whatever the index's size), then fanned out: one
``scan_release`` task per pending item, on the ``scanning`` queue. A task claims its item
(``FOR UPDATE SKIP LOCKED``), prefetches the release's files from the cache store to a
worker-local folder, scans each in a child under a time and memory limit, and writes the
results and ``state = 'done'`` in one transaction. So:

* a task delivered twice, or for an item already done, does nothing (idempotent);
* a worker killed mid-item leaves the item pending: resuming the run (``warehouse scan run
  --resume RUN``) sends the pending items again, and the run ends with each release scanned
  exactly once;
* a crash or timeout of the child is retried (``scan_max_attempts``); after the last attempt
  its result is recorded with the error (verdict suspicious) and the item is ``failed``,
  never fatal to the run.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

import sqlalchemy as sa
import structlog
from sqlalchemy import orm

from warehouse.db import utcnow
from warehouse.packaging.models import File, Project, Release
from warehouse.scanning import metrics
from warehouse.scanning.models import TRIGGER_RUN, ScanResultRow, ScanRun, ScanRunItem
from warehouse.scanning.rules import load_rules

log = structlog.get_logger(__name__)

SCOPES = ("latest", "all-releases", "changed-rules")
_VERDICT_ORDER = {"clean": 0, "suspicious": 1, "malicious": 2}
SEND_PAGE = 1000


class RunError(ValueError):
    """A run that cannot be started or resumed; the message is one sentence."""


class RetryLater(Exception):
    """A file's scan did not finish; the task is tried again."""


# Planning -----------------------------------------------------------------------------------


def _releases_in_scope(scope: str, since_serial: int | None, rules_version: str):
    """SELECT release id, normalized project name, version for a run's scope."""
    query = sa.select(Release.id, Project.normalized_name, Release.version).join(
        Project, Project.id == Release.project_id
    )
    if since_serial is not None:
        query = query.where(Project.last_serial > since_serial)
    if scope == "latest":
        # Each project's newest release (by version order).
        newest = orm.aliased(Release)
        query = query.where(
            ~sa.exists().where(
                newest.project_id == Release.project_id, newest.sort_order > Release.sort_order
            )
        )
    elif scope == "changed-rules":
        # Releases with a file whose newest result was made by other rules, or has none.
        newest = orm.aliased(ScanResultRow)
        current = sa.exists().where(
            newest.file_id == File.id, newest.rules_version == rules_version
        )
        query = query.where(
            sa.exists().where(File.release_id == Release.id, ~current),
        )
    return query


def plan_run(
    session: orm.Session,
    scope: str,
    started_by: str,
    since_serial: int | None = None,
) -> ScanRun:
    if scope not in SCOPES:
        raise RunError(f"A run's scope is one of {', '.join(SCOPES)}, not {scope!r}.")
    rules_version = load_rules().version
    run = ScanRun(
        created=utcnow(),
        started_by=started_by,
        scope=scope,
        since_serial=since_serial,
        rules_version=rules_version,
        planned=False,
        total=0,
    )
    session.add(run)
    session.flush()
    releases = _releases_in_scope(scope, since_serial, rules_version).subquery()
    session.execute(
        sa.insert(ScanRunItem).from_select(
            [
                "run_id",
                "release_id",
                "project_name",
                "version",
                "state",
                "attempts",
                "files",
                "updated",
            ],  # fmt: skip
            sa.select(
                sa.literal(run.id),
                releases.c.id,
                releases.c.normalized_name,
                releases.c.version,
                sa.literal("pending"),
                sa.literal(0),
                sa.literal(0),
                sa.literal(utcnow()),
            ),
        )
    )
    run.total = session.scalar(
        sa.select(sa.func.count()).select_from(ScanRunItem).where(ScanRunItem.run_id == run.id)
    )
    run.planned = True
    if run.total == 0:
        run.finished = utcnow()
    log.info("scan.run_planned", run=run.id, scope=scope, releases=run.total)
    return run


def pending_item_ids(session: orm.Session, run_id: int, after: int = 0, limit: int = SEND_PAGE):
    return list(
        session.scalars(
            sa.select(ScanRunItem.id)
            .where(
                ScanRunItem.run_id == run_id,
                ScanRunItem.state == "pending",
                ScanRunItem.id > after,
            )
            .order_by(ScanRunItem.id)
            .limit(limit)
        )
    )


def send_pending(ctx, run_id: int, send: Callable[[int, int], object] | None = None) -> int:
    """Send one task per pending item of the run, a page at a time; returns how many.

    Sending an item twice is harmless (the task skips what is done), so resuming is sending
    again whatever is still pending."""
    if send is None:
        from warehouse.scanning.tasks import scan_release

        def send(run, item):
            return scan_release.send_now((run, item))

    sent, after = 0, 0
    while True:
        with ctx.session() as session:
            page = pending_item_ids(session, run_id, after)
        if not page:
            return sent
        for item_id in page:
            send(run_id, item_id)
            sent += 1
        after = page[-1]


def resume_run(session: orm.Session, run_id: int) -> ScanRun:
    run = session.get(ScanRun, run_id)
    if run is None:
        raise RunError(f"There is no scan run {run_id}.")
    if not run.planned:
        raise RunError(f"Scan run {run_id} was never planned completely; start a new one.")
    return run


# One release --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _FileToScan:
    id: int
    filename: str
    key: str
    sha256: str


def scan_run_item(ctx, run_id: int, item_id: int) -> str:
    """Scan one release of a run (see the module docstring); returns what happened."""
    from warehouse.scanning.isolation import scan_file_isolated
    from warehouse.scanning.tasks import child_limits, prefetch, workdir

    with ctx.session() as session:
        item = session.scalar(
            sa.select(ScanRunItem)
            .where(ScanRunItem.id == item_id, ScanRunItem.run_id == run_id)
            .with_for_update(skip_locked=True)
        )
        if item is None or item.state != "pending":
            return "skipped"
        release = session.get(Release, item.release_id) if item.release_id else None
        if release is None:
            item.state, item.error, item.updated = "done", "deleted before its turn", utcnow()
            _finish_if_done(session, run_id)
            return "gone"
        files = [
            _FileToScan(f.id, f.filename, f.path, f.sha256_digest)
            for f in session.scalars(sa.select(File).where(File.release_id == release.id))
        ]
        item.attempts += 1
        attempt = item.attempts
        item.updated = utcnow()

    results = {}
    limits = child_limits(ctx.settings)
    with workdir(ctx) as scratch:
        for number, file in enumerate(files):
            local = prefetch(ctx, file.key, scratch / f"{number}")
            results[file.id] = scan_file_isolated(str(local), limits, filename=file.filename)
            local.unlink()
    errors = [r.error.splitlines()[0] for r in results.values() if r.error]
    last_attempt = attempt >= ctx.settings.scan_max_attempts
    if errors:
        metrics.UNFINISHED.labels(TRIGGER_RUN, "child").inc(len(errors))
        if not last_attempt:
            with ctx.session() as session:
                item = session.get(ScanRunItem, item_id)
                item.error, item.updated = errors[0], utcnow()
            raise RetryLater(f"{item_id}: {errors[0]}")

    return _record(ctx, run_id, item_id, files, results, errors)


def _record(ctx, run_id, item_id, files, results, errors) -> str:
    from warehouse.admin.mail import session_mailer
    from warehouse.scanning.services import ScannedFile, act_on_verdict, record_result

    with ctx.session() as session:
        item = session.scalar(
            sa.select(ScanRunItem).where(ScanRunItem.id == item_id).with_for_update()
        )
        if item.state != "pending":
            return "skipped"  # another delivery finished it meanwhile
        release = session.get(Release, item.release_id) if item.release_id else None
        worst = "clean"
        if release is not None:
            project = session.get(Project, release.project_id)
            mail = session_mailer(session, ctx.settings.site_url)
            for file in files:
                row_file = session.get(File, file.id)
                if row_file is None:
                    continue
                result = results[file.id]
                target = ScannedFile.of(project, release, row_file)
                row = record_result(session, target, result, TRIGGER_RUN, run_id)
                act_on_verdict(session, project, release, row_file, row, result, mail)
                if _VERDICT_ORDER[result.verdict] > _VERDICT_ORDER[worst]:
                    worst = result.verdict
        item.state = "failed" if errors else "done"
        item.error = errors[0] if errors else None
        item.files = len(files)
        item.worst_verdict = worst
        item.updated = utcnow()
        _finish_if_done(session, run_id)
    return item.state


def _finish_if_done(session: orm.Session, run_id: int) -> None:
    session.flush()
    session.execute(
        sa.update(ScanRun)
        .where(
            ScanRun.id == run_id,
            ScanRun.finished.is_(None),
            ~sa.exists().where(ScanRunItem.run_id == run_id, ScanRunItem.state == "pending"),
        )
        .values(finished=utcnow())
    )


# New rules ----------------------------------------------------------------------------------


def start_run_for_new_rules(ctx, send=None) -> int | None:
    """Start a ``changed-rules`` run if results exist that other rules made and no run has
    been started under the current rules yet; returns its id (None: nothing to do)."""
    version = load_rules().version
    with ctx.session() as session:
        already = session.scalar(
            sa.select(ScanRun.id).where(ScanRun.rules_version == version).limit(1)
        )
        stale = session.scalar(
            sa.select(ScanResultRow.id).where(ScanResultRow.rules_version != version).limit(1)
        )
        if already is not None or stale is None:
            return None
        run = plan_run(session, "changed-rules", "(beat)")
        run_id = run.id
    send_pending(ctx, run_id, send)
    return run_id


# Reading ------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunProgress:
    run: ScanRun
    done: int
    failed: int
    pending: int
    by_verdict: dict[str, int]
    updated: datetime.datetime | None

    @property
    def state(self) -> str:
        if self.run.finished is not None:
            return "finished"
        return "running" if self.run.planned else "planning"


def progress(session: orm.Session, run: ScanRun) -> RunProgress:
    counts = dict(
        session.execute(
            sa.select(ScanRunItem.state, sa.func.count())
            .where(ScanRunItem.run_id == run.id)
            .group_by(ScanRunItem.state)
        ).all()
    )
    verdicts = dict(
        session.execute(
            sa.select(ScanRunItem.worst_verdict, sa.func.count())
            .where(ScanRunItem.run_id == run.id, ScanRunItem.worst_verdict.is_not(None))
            .group_by(ScanRunItem.worst_verdict)
        ).all()
    )
    updated = session.scalar(
        sa.select(sa.func.max(ScanRunItem.updated)).where(ScanRunItem.run_id == run.id)
    )
    return RunProgress(
        run,
        done=counts.get("done", 0),
        failed=counts.get("failed", 0),
        pending=counts.get("pending", 0),
        by_verdict=verdicts,
        updated=updated,
    )


def recent_runs(session: orm.Session, limit: int = 20) -> list[RunProgress]:
    runs = session.scalars(sa.select(ScanRun).order_by(ScanRun.id.desc()).limit(limit))
    return [progress(session, run) for run in runs]


@dataclasses.dataclass
class RunReport:
    progress: RunProgress
    flagged: list[ScanRunItem]  # worst verdict not clean
    failed: list[ScanRunItem]


def run_report(session: orm.Session, run_id: int, limit: int = 200) -> RunReport | None:
    run = session.get(ScanRun, run_id)
    if run is None:
        return None
    flagged = session.scalars(
        sa.select(ScanRunItem)
        .where(
            ScanRunItem.run_id == run_id, ScanRunItem.worst_verdict.in_(("suspicious", "malicious"))
        )
        .order_by(ScanRunItem.worst_verdict.desc(), ScanRunItem.project_name)
        .limit(limit)
    )
    failed = session.scalars(
        sa.select(ScanRunItem)
        .where(ScanRunItem.run_id == run_id, ScanRunItem.state == "failed")
        .limit(limit)
    )
    return RunReport(progress(session, run), list(flagged), list(failed))
