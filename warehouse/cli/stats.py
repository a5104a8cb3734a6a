"""``warehouse stats``: backfill, status, rebuild and export of the download statistics."""

from __future__ import annotations

import datetime
import os
import re
import threading
from pathlib import Path

import click
import sqlalchemy as sa

from warehouse.cli.context import load_settings

# A file named as the shipping task names closed logs: counted under the same key as its
# object in the bucket, so the same log is never counted twice by the two routes.
_SHIPPED_NAME = re.compile(r"^\d{8}T\d{6}Z-.+\.log(\.gz)?$")


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-04") from None


def _months(ctx, param, values):
    months = []
    for value in values:
        try:
            months.append(datetime.date.fromisoformat(f"{value}-01"))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a month like 2026-11") from None
    return months


def key_for_path(path: Path) -> str:
    from warehouse.stats.logs import object_key

    if _SHIPPED_NAME.match(path.name):
        return object_key(path.name.removesuffix(".gz"))
    return f"file/{path.name}"


class _Progress:
    """A binary stream that moves a progress bar by the bytes read from the file (files are
    read in threads: one moves the bar at a time)."""

    _moving = threading.Lock()

    def __init__(self, stream, bar):
        self.stream, self.bar = stream, bar

    def read(self, size=-1):
        data = self.stream.read(size)
        with self._moving:
            self.bar.update(len(data))
        return data


@click.group()
def stats() -> None:
    """Download statistics from the CDN's logs."""


@stats.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def ingest(paths) -> None:
    """Count log files (plain or .gz) here and now, each once and only once, several
    files per transaction (the way the stats queue's workers count objects).

    A file is known by its name: a file named as shipped logs are
    (20261204T215500Z-host-1.log[.gz]) counts as that bucket object would; any other as
    file/<name>.
    """
    import contextlib

    from warehouse.stats import ingest as counting
    from warehouse.stats.tasks import forget_counted
    from warehouse.tasks import TaskContext

    context = TaskContext.from_settings(load_settings())
    total = sum(os.path.getsize(p) for p in paths)
    counted = skipped = lines = malformed = 0
    try:
        with click.progressbar(length=total, label="Counting", show_pos=False) as bar:

            @contextlib.contextmanager
            def opened(path: Path):
                with open(path, "rb") as raw:
                    yield counting.object_lines(_Progress(raw, bar), path.name)

            # Files counted before move the bar without being read.
            with context.session() as session:
                done = counting.counted_keys(session, [key_for_path(Path(p)) for p in paths])
            sources = []
            for name in paths:
                path = Path(name)
                if key_for_path(path) in done:
                    bar.update(path.stat().st_size)
                else:
                    sources.append((key_for_path(path), lambda path=path: opened(path)))
            skipped = len(paths) - len(sources)
            threads = context.settings.stats_read_threads
            outcomes = list(counting.count_all(context.session_factory, sources, threads=threads))
        for outcome in outcomes:
            if outcome.counted:
                counted += 1
                lines += outcome.lines
                malformed += outcome.malformed
            else:
                skipped += 1
        forget_counted(context, outcomes)
    finally:
        context.engine.dispose()
    click.echo(
        f"{counted} file(s) counted ({lines:,} lines, {malformed:,} malformed); "
        f"{skipped} counted before, left as they were"
    )


@stats.command()
def status() -> None:
    """The newest log counted, the backlog and the lag."""
    from warehouse.stats.metrics import lag_seconds
    from warehouse.stats.models import CountedLog, MalformedLine
    from warehouse.stats.tasks import uncounted_keys
    from warehouse.tasks import TaskContext

    context = TaskContext.from_settings(load_settings())
    try:
        with context.session() as session:
            newest = session.scalars(
                sa.select(CountedLog).order_by(CountedLog.last_event.desc().nulls_last()).limit(1)
            ).first()
            hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
            objects, lines, malformed = session.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(CountedLog.lines), 0),
                    sa.func.coalesce(sa.func.sum(CountedLog.malformed), 0),
                ).where(CountedLog.counted_at >= hour_ago)
            ).one()
            kept = session.scalar(sa.select(sa.func.count()).select_from(MalformedLine))
            lag = lag_seconds(session)
        backlog = uncounted_keys(context)
    finally:
        context.engine.dispose()
    if newest is None:
        click.echo("newest log counted: none yet")
    else:
        click.echo(f"newest log counted: {newest.key} (events up to {newest.last_event})")
    click.echo(f"lag: {'-' if lag is None else f'{lag:.0f} s'}")
    click.echo(f"backlog: {len(backlog)} log object(s) of the last 2 days not counted yet")
    click.echo(
        f"last hour: {objects} object(s), {lines:,} lines, {malformed:,} malformed "
        f"({kept:,} malformed lines kept in stats_malformed_lines)"
    )


@stats.command()
@click.option("--since", required=True, callback=_date, help="First day to recount (YYYY-MM-DD).")
@click.option("--queue", is_flag=True, help="Send one task per object instead of counting here.")
def rebuild(since, queue) -> None:
    """Recount every day from SINCE on from the raw logs in the bucket.

    The aggregates of those days and the records of the objects holding them are removed in
    one transaction, then each object is counted again (only its lines from SINCE on).
    Objects counted from files (``warehouse stats ingest``) that are not in the bucket cannot
    be recounted: ship them to logs/ first.
    """
    from warehouse.stats import compaction, logs
    from warehouse.stats import ingest as counting
    from warehouse.stats.models import CountedLog, DailyDownloads, MalformedLine
    from warehouse.stats.services import forget_all_past
    from warehouse.stats.tasks import forget_counted, logs_store, send_batches, stored_lines
    from warehouse.tasks import TaskContext

    context = TaskContext.from_settings(load_settings())
    try:
        start = datetime.datetime.combine(since, datetime.time(), datetime.UTC)
        with context.session() as session:
            # No batch adds to those days while they are removed.
            counting.lock_writes(session)
            forgotten = session.scalars(
                sa.delete(CountedLog)
                .where(CountedLog.last_event >= start)
                .returning(CountedLog.key)
            ).all()
            session.execute(sa.delete(MalformedLine).where(MalformedLine.log_key.in_(forgotten)))
            session.execute(sa.delete(DailyDownloads).where(DailyDownloads.day >= since))
            # The recounted days are appended as they come: their months are rewritten anew.
            compaction.forget_compactions(session, since)
        # Removed days are not served from what the origin kept of them.
        forget_all_past(context.redis)
        not_in_bucket = [k for k in forgotten if not k.startswith(logs.LOGS_PREFIX)]
        store = logs_store(context)
        today = datetime.datetime.now(datetime.UTC).date()
        keys: list[str] = []
        day = since - datetime.timedelta(days=1)
        while day <= today:
            keys += store.keys(f"{logs.LOGS_PREFIX}{day:%Y/%m/%d}/")
            day += datetime.timedelta(days=1)
        with context.session() as session:
            done = set(session.scalars(sa.select(CountedLog.key).where(CountedLog.key.in_(keys))))
        keys = [k for k in keys if k not in done]
        if queue:
            send_batches(keys, since)
            click.echo(f"{len(keys)} log object(s) sent to the stats queue")
        else:
            with click.progressbar(length=len(keys), label="Recounting") as bar:
                sources = [(key, lambda key=key: stored_lines(store, key)) for key in keys]
                outcomes = []
                threads = context.settings.stats_read_threads
                counted = counting.count_all(
                    context.session_factory, sources, since=since, threads=threads
                )
                for outcome in counted:
                    outcomes.append(outcome)
                    bar.update(1)
            forget_counted(context, outcomes)
            click.echo(f"{len(keys)} log object(s) recounted from {since}")
        if not_in_bucket:
            click.echo(
                f"warning: {len(not_in_bucket)} object(s) counted from files are not in the "
                f"bucket and were not recounted: {', '.join(sorted(not_in_bucket)[:10])}",
                err=True,
            )
    finally:
        context.engine.dispose()


@stats.command()
@click.option(
    "--month",
    "months",
    multiple=True,
    callback=_months,
    help="A closed month (YYYY-MM), repeatable; default: every closed month.",
)
def compact(months) -> None:
    """Rewrite closed months' rows in the primary key's order, so that a project's month is a
    few neighbouring pages (beat does the month that closed; this is for the ones before).
    Shares already rewritten are skipped: a run killed midway goes on where it stopped."""
    from warehouse.stats import compaction
    from warehouse.stats.models import DailyDownloads
    from warehouse.tasks import TaskContext

    context = TaskContext.from_settings(load_settings())
    try:
        today = datetime.datetime.now(datetime.UTC).date()
        if not months:
            with context.session() as session:
                oldest = session.scalar(sa.select(sa.func.min(DailyDownloads.day)))
            months = compaction.closed_months(oldest, today) if oldest else []
        for month in months:
            if compaction.month_of(month) >= compaction.month_of(today):
                raise click.ClickException(f"{month:%Y-%m} has not closed yet.")
        with context.session() as session:
            left = sum(len(compaction.shares_left(session, month)) for month in months)
        moved = 0
        with click.progressbar(length=left, label="Rewriting shares") as bar:
            for month in months:
                for rows in compaction.compact_month(context.session_factory, month):
                    moved += rows
                    bar.update(1)
        if left:
            click.echo("Rebuilding the primary key (REINDEX CONCURRENTLY)...")
            compaction.rebuild_key_index(context.session_factory)
        done = len(months) * compaction.SHARES - left
        click.echo(
            f"{len(months)} month(s), {moved:,} rows rewritten in key order"
            + (f" ({done} share(s) were already)" if done else "")
        )
    finally:
        context.engine.dispose()


@stats.command()
@click.option("--since", required=True, callback=_date, help="First day (YYYY-MM-DD).")
@click.option("--until", callback=_date, help="Last day (YYYY-MM-DD); default: the newest.")
@click.option("--to", "target", required=True, help="A folder, or s3://bucket/prefix.")
def export(since, until, target) -> None:
    """Write the daily aggregates as gzipped CSV (and Parquet when pyarrow is installed)."""
    from warehouse.stats import export as dataset
    from warehouse.tasks import TaskContext

    settings = load_settings()
    context = TaskContext.from_settings(settings)

    def s3_client():
        from warehouse.storage.s3 import s3_client_from_settings

        return s3_client_from_settings(settings)

    try:
        written = dataset.export(context.session_factory, since, until, target, s3_client)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        context.engine.dispose()
    for name in written:
        click.echo(name)
