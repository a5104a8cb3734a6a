"""Celery tasks of the download statistics, all on the ``stats`` queue.

* ``ship_logs`` (beat, every ``stats_rotate_seconds``): ship the closed CDN log files of
  this machine to the object store, rotate the current one, and count what was shipped;
* ``discover_logs`` (beat, every ``stats_discover_seconds``): find log objects in the store
  that were not counted yet (Fastly's, or ones whose count task was lost) and count them;
* ``count_logs``: count a batch of log objects, each once and only once, their counts merged
  and written with as few transactions as memory allows (see :mod:`warehouse.stats.ingest`);
  ``count_log`` is the batch of one;
* ``nightly`` (beat, 00:30 UTC): export yesterday's aggregates as a dataset to the archive,
  delete raw log objects older than ``stats_logs_retention_days``, and on the month's second
  day send ``compact_month`` for the month that closed;
* ``compact_month`` sends a ``compact_share`` per share of the month's projects, each
  rewriting its rows in key order once, and the last one sends ``rebuild_key``.
"""

from __future__ import annotations

import contextlib
import datetime
from pathlib import Path

import structlog

from warehouse.cdn.keys import stats_key
from warehouse.cdn.tasks import purge_keys
from warehouse.stats import ingest, logs
from warehouse.stats.services import forget_answers, forget_past
from warehouse.tasks import app

log = structlog.get_logger(__name__)


def logs_store(ctx):
    """Where log objects live: the archive, under ``logs/`` (file blobs never start so)."""
    return ctx.archive


def purge_stats_pages(ctx, projects) -> None:
    """The CDN forgets the statistics pages and API answers of these projects."""
    if ctx.settings.cdn_backend == "none" or not projects:
        return
    purge_keys.send_now(([stats_key(name) for name in sorted(projects)],))


# Objects per count_logs message sent by discover_logs: a batch large enough that the rows
# the objects share are written once, small enough that several workers share a backlog.
OBJECTS_PER_TASK = 16


def count_objects(ctx, keys: list[str], since: datetime.date | None = None) -> list[ingest.Outcome]:
    """Count the log objects ``keys`` of the store, merged into as few transactions as
    ``ingest.BATCH_MAX_ROWS`` allows; then the CDN forgets the pages of their projects."""
    store = logs_store(ctx)
    sources = [(key, lambda key=key: stored_lines(store, key)) for key in keys]
    threads = ctx.settings.stats_read_threads
    outcomes = list(ingest.count_all(ctx.session_factory, sources, since=since, threads=threads))
    forget_counted(ctx, outcomes)
    return outcomes


def forget_counted(ctx, outcomes) -> None:
    """After the counts of ``outcomes`` committed: the CDN forgets the pages that showed the
    old counts, and the origin its kept answers and, if late lines changed them, what it kept
    of past days."""
    counted = [o for o in outcomes if o.counted]
    projects = set().union(*(o.projects for o in counted))
    forget_past(ctx.redis, projects, set().union(*(o.days for o in counted)))
    forget_answers(ctx.redis, projects)
    purge_stats_pages(ctx, projects)


def count_object(ctx, key: str, since: datetime.date | None = None) -> ingest.Outcome:
    [outcome] = count_objects(ctx, [key], since)
    return outcome


@contextlib.contextmanager
def stored_lines(store, key: str):
    """The lines of one stored object, opened when the batch reaches it."""
    with store.open(key) as stream:
        yield ingest.object_lines(stream, key)


@app.task(name="warehouse.stats.tasks.count_logs", bind=True)
def count_logs(self, keys: list[str], since: str | None = None) -> dict:
    day = datetime.date.fromisoformat(since) if since else None
    outcomes = count_objects(self.ctx, list(keys), day)
    return {
        "counted": [o.key for o in outcomes if o.counted],
        "lines": sum(o.lines for o in outcomes),
    }


@app.task(name="warehouse.stats.tasks.count_log", bind=True)
def count_log(self, key: str, since: str | None = None) -> dict:
    day = datetime.date.fromisoformat(since) if since else None
    outcome = count_object(self.ctx, key, day)
    return {"key": key, "counted": outcome.counted, "lines": outcome.lines}


def send_batches(keys: list[str], since: datetime.date | None = None) -> int:
    """One ``count_logs`` message per ``OBJECTS_PER_TASK`` keys; the messages sent."""
    sent = 0
    for start in range(0, len(keys), OBJECTS_PER_TASK):
        count_logs.delay(keys[start : start + OBJECTS_PER_TASK], since and since.isoformat())
        sent += 1
    return sent


@app.task(name="warehouse.stats.tasks.ship_logs", bind=True)
def ship_logs(self) -> list[str]:
    settings = self.ctx.settings
    if not settings.stats_log_dir:
        return []
    log_dir = Path(settings.stats_log_dir)
    shipped = logs.ship(log_dir, logs_store(self.ctx))
    pidfile = Path(settings.stats_ncsa_pidfile) if settings.stats_ncsa_pidfile else None
    logs.rotate(log_dir, pidfile)
    send_batches(shipped)
    if shipped:
        log.info("CDN logs shipped", keys=shipped)
    return shipped


def uncounted_keys(ctx, days: int = 2, today: datetime.date | None = None) -> list[str]:
    """Log objects of the last ``days`` days (by their key's date) not counted yet."""
    import sqlalchemy as sa

    from warehouse.stats.models import CountedLog

    today = today or datetime.datetime.now(datetime.UTC).date()
    store = logs_store(ctx)
    keys: list[str] = []
    for back in range(days):
        day = today - datetime.timedelta(days=back)
        keys += store.keys(f"{logs.LOGS_PREFIX}{day:%Y/%m/%d}/")
    if not keys:
        return []
    with ctx.session() as session:
        counted = set(session.scalars(sa.select(CountedLog.key).where(CountedLog.key.in_(keys))))
    return sorted(k for k in keys if k not in counted)


@app.task(name="warehouse.stats.tasks.discover_logs", bind=True)
def discover_logs(self) -> int:
    keys = uncounted_keys(self.ctx)
    send_batches(keys)
    return len(keys)


def export_day(ctx, day: datetime.date) -> list[str]:
    """Yesterday's (or ``day``'s) aggregates as a dataset in the archive; the keys written."""
    import tempfile

    from warehouse.stats import export

    store = ctx.archive
    keys = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in export.export(ctx.session_factory, day, day, scratch):
            path = Path(name)
            key = f"{ctx.settings.stats_dataset_prefix}{day:%Y/%m}/{path.name}"
            content_type = (
                "application/gzip" if path.suffix == ".gz" else "application/octet-stream"
            )
            store.put(key, path, content_type=content_type)
            keys.append(key)
    return keys


def prune_logs(ctx, today: datetime.date, scan_days: int = 7) -> int:
    """Delete the log objects of the ``scan_days`` days that just passed the retention."""
    days = ctx.settings.stats_logs_retention_days
    if days <= 0:
        return 0
    store = logs_store(ctx)
    removed = 0
    for back in range(days + 1, days + 1 + scan_days):
        day = today - datetime.timedelta(days=back)
        for key in store.keys(f"{logs.LOGS_PREFIX}{day:%Y/%m/%d}/"):
            store.delete(key)
            removed += 1
    return removed


@app.task(name="warehouse.stats.tasks.compact_month", bind=True)
def compact_month(self, month: str) -> int:
    """Send one ``compact_share`` per share of a closed month not rewritten yet (see
    warehouse.stats.compaction); the tasks sent."""
    from warehouse.stats import compaction

    with self.ctx.session() as session:
        left = compaction.shares_left(session, datetime.date.fromisoformat(month))
    for share in left:
        compact_share.delay(month, share)
    return len(left)


@app.task(name="warehouse.stats.tasks.compact_share", bind=True)
def compact_share(self, month: str, share: int) -> int | None:
    """Rewrite one share of a closed month in key order, once however often delivered; the
    task that rewrites the month's last share sends the key's rebuild."""
    from warehouse.stats import compaction

    first = datetime.date.fromisoformat(month)
    with self.ctx.session() as session:
        moved = compaction.compact_share(session, first, share)
        # Under the write lock the shares' transactions take turns: exactly one of them
        # sees its month finished, and its rebuild is sent once it commits.
        if moved is not None and not compaction.shares_left(session, first):
            rebuild_key.delay()
    log.info("stats share compacted", month=month, share=share, rows=moved)
    return moved


@app.task(name="warehouse.stats.tasks.rebuild_key", bind=True)
def rebuild_key(self) -> None:
    """Rebuild the aggregates' primary key without blocking reads or writes (after a month
    was rewritten); a rerun after a kill drops the half-built copy first."""
    from warehouse.stats import compaction

    compaction.rebuild_key_index(self.ctx.session_factory)
    log.info("stats key rebuilt")


# The night a month is rewritten: its last day's late logs (minutes late) are in by then.
COMPACT_ON_DAY = 2


def month_to_compact(today: datetime.date) -> str | None:
    """The month the night of ``today`` rewrites (``YYYY-MM-01``), if any."""
    if today.day != COMPACT_ON_DAY:
        return None
    return (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1).isoformat()


@app.task(name="warehouse.stats.tasks.nightly", bind=True)
def nightly(self) -> dict:
    today = datetime.datetime.now(datetime.UTC).date()
    exported = export_day(self.ctx, today - datetime.timedelta(days=1))
    removed = prune_logs(self.ctx, today)
    compacting = month_to_compact(today)
    if compacting:
        compact_month.delay(compacting)
    log.info("stats nightly", exported=exported, removed_logs=removed, compacting=compacting)
    return {"exported": exported, "removed_logs": removed, "compacting": compacting}
