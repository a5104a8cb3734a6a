"""Counting one log object, once and only once.

The object's lines are tallied in memory (:class:`~warehouse.stats.lines.Tally`: flat in the
size of the object, growing only with its distinct keys), then written in one transaction:
the object's row in ``stats_counted_logs`` first (a second counter of the same object waits
on that row's key, then finds it and adds nothing), its rows appended to
``stats_pending_downloads`` with one COPY, the malformed lines kept aside. A crash before the
commit leaves nothing; a retry or a second run after it adds nothing.

:func:`fold` then moves pending rows into ``stats_daily_downloads``: summed by key across
every object pending, one upsert in key order, deleted from the pending table in the same
statement. The upsert, not the parse, is what an object costs PostgreSQL; folding many
objects at once pays it once per distinct key rather than once per key per object.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import io
import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import sqlalchemy as sa
import structlog
from sqlalchemy import orm

from warehouse.stats.lines import Tally
from warehouse.stats.models import CountedLog, MalformedLine

log = structlog.get_logger(__name__)

LOGS_PREFIX = "logs/"


@dataclasses.dataclass(frozen=True)
class Outcome:
    key: str
    counted: bool  # False: the object had been counted before; nothing was added
    lines: int = 0
    downloads: int = 0
    ignored: int = 0
    malformed: int = 0
    seconds: float = 0.0
    projects: frozenset[str] = frozenset()
    days: frozenset[datetime.date] = frozenset()


def text_lines(stream: BinaryIO, name: str) -> Iterator[str]:
    """The lines of a log stream, gunzipped when ``name`` ends in ``.gz``.

    Bytes that are not UTF-8 are replaced rather than fatal: such a line still counts, or is
    kept aside as malformed with the rest of its text readable."""
    raw: BinaryIO = io.BufferedReader(_Readable(stream), 1024 * 1024)  # type: ignore[assignment]
    if name.endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")


class _Readable(io.RawIOBase):
    """Any object with ``read(n)`` (a file, an S3 body) as a raw stream io can buffer."""

    def __init__(self, stream):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def already_counted(session: orm.Session, key: str) -> bool:
    return session.get(CountedLog, key) is not None


# The object's rows are appended to the pending table: no index, no conflict to resolve, so
# the transaction that records an object is one COPY however busy the aggregates are.
_COPY_PENDING = (
    "COPY stats_pending_downloads (project, dimension, day, category, mirror, downloads) FROM STDIN"
)
# One fold at a time (others skip: the running one, or the next, takes their rows).
FOLD_LOCK = 0x57A7_F01D
# Rows in key order: a fold and a rebuild lock the rows they share in the same order, so
# they wait for each other instead of deadlocking.
_FOLD = """
WITH moved AS (
    DELETE FROM stats_pending_downloads
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM stats_pending_downloads LIMIT %(limit)s))
    RETURNING project, dimension, day, category, mirror, downloads
), summed AS (
    SELECT project, dimension, day, category, mirror, sum(downloads)::bigint AS downloads
    FROM moved GROUP BY project, dimension, day, category, mirror
)
INSERT INTO stats_daily_downloads (project, dimension, day, category, mirror, downloads)
SELECT project, dimension, day, category, mirror, downloads FROM summed
ORDER BY project, dimension, day, category, mirror
ON CONFLICT (project, dimension, day, category, mirror)
DO UPDATE SET downloads = stats_daily_downloads.downloads + EXCLUDED.downloads
"""
# Pending rows folded per transaction: bounds a fold's memory and its locks after a backlog.
FOLD_BATCH = 2_000_000


def write_rows(session: orm.Session, rows: Iterable[tuple]) -> None:
    """Append ``(project, dimension, day, category, mirror, downloads)`` rows to the pending
    counts (in the session's transaction); :func:`fold` adds them to the aggregates."""
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(_COPY_PENDING) as copy:
        for row in rows:
            copy.write_row(row)


def fold(session: orm.Session, *, limit: int = FOLD_BATCH, wait: bool = False) -> int | None:
    """Move up to ``limit`` pending rows into the daily aggregates, in the session's
    transaction (the caller commits): summed by key, then one upsert in key order.

    Returns the aggregate rows written (0: nothing was pending), or None if another fold holds
    the lock (``wait``: wait for it instead).
    A row is deleted from the pending table in the same statement that adds it, so a crash
    leaves it pending and it is added once."""
    if not lock_folds(session, wait=wait):
        return None
    return session.connection().exec_driver_sql(_FOLD, {"limit": limit}).rowcount


def lock_folds(session: orm.Session, *, wait: bool = True) -> bool:
    """Hold the fold lock until the session's transaction ends (False: another holds it and
    ``wait`` is False)."""
    connection = session.connection()
    if wait:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({FOLD_LOCK})")
        return True
    return bool(
        connection.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({FOLD_LOCK})").scalar()
    )


def fold_all(session_factory, *, wait: bool = False) -> int:
    """Fold every pending row, one committed batch at a time; the aggregate rows written (0
    if another fold was running: that one, or the next, takes the rows)."""
    moved = 0
    while True:
        with session_factory() as session:
            rows = fold(session, wait=wait)
            session.commit()
        if not rows:
            return moved
        moved += rows


def record(session: orm.Session, key: str, tally: Tally, *, fold_now: bool = True) -> bool:
    """Write ``tally`` as the counts of ``key`` in the session's transaction; False (and
    nothing written) if ``key`` was counted before. The caller commits.

    ``fold_now``: also fold the pending counts into the aggregates in this transaction (one
    object at a time: backfills, tests). Workers pass False and fold after their commit, so
    that many objects' rows are folded together (see :func:`fold`)."""
    first, last = tally.event_range()
    claimed = session.execute(
        sa.dialects.postgresql.insert(CountedLog)
        .values(
            key=key,
            lines=tally.lines,
            downloads=tally.downloads,
            ignored=tally.ignored,
            index_pages=tally.index_pages,
            malformed=tally.malformed,
            first_event=first,
            last_event=last,
            counted_from=tally.since,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(CountedLog.key)
    ).first()
    if claimed is None:
        return False
    # Downloads through an upstream count under its name too (before the COPY starts).
    from warehouse.upstreams.downloads import releases_by_upstream, with_upstream_rows

    through_upstreams = releases_by_upstream(session, tally.projects())
    write_rows(session, with_upstream_rows(tally.rows(), through_upstreams))
    if tally.kept_malformed:
        session.execute(
            sa.insert(MalformedLine),
            [
                {"log_key": key, "line_number": m.line_number, "reason": m.reason, "line": m.line}
                for m in tally.kept_malformed
            ],
        )
    if fold_now:
        fold(session, wait=True)
    return True


def count(
    session: orm.Session,
    key: str,
    lines: Iterable[str],
    *,
    since: datetime.date | None = None,
    fold_now: bool = True,
) -> Outcome:
    """Tally ``lines`` and record them as ``key``'s counts (see :func:`record`). The caller
    commits."""
    if already_counted(session, key):
        return Outcome(key, counted=False)
    # Not inside a transaction while reading: a long object must not hold locks.
    session.rollback()
    started = time.perf_counter()
    tally = Tally(since=since).feed(lines)
    if not record(session, key, tally, fold_now=fold_now):
        return Outcome(key, counted=False)
    seconds = time.perf_counter() - started
    from warehouse.stats import metrics

    metrics.observe_object(tally, seconds)
    days = tally.days()
    projects = tally.projects()
    log.info(
        "log object counted",
        key=key,
        lines=tally.lines,
        downloads=tally.downloads,
        ignored=tally.ignored,
        malformed=tally.malformed,
        lines_per_second=round(tally.lines / seconds) if seconds else None,
    )
    return Outcome(
        key,
        counted=True,
        lines=tally.lines,
        downloads=tally.downloads,
        ignored=tally.ignored,
        malformed=tally.malformed,
        seconds=seconds,
        projects=projects,
        days=days,
    )
