"""Counting one log object, once and only once.

The object's lines are tallied in memory (:class:`~warehouse.stats.lines.Tally`: flat in the
size of the object, growing only with its distinct keys), then written in one transaction:
the object's row in ``stats_counted_logs`` first (a second counter of the same object waits
on that row's key, then finds it and adds nothing), the aggregates with one COPY and one
upsert, the malformed lines kept aside. A crash before the commit leaves nothing; a retry
or a second run after it adds nothing.
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
from packaging.utils import canonicalize_name
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


_STAGE = """
CREATE TEMPORARY TABLE stats_incoming (
    project text, dimension text, day date, category text, mirror boolean, downloads bigint
) ON COMMIT DROP
"""
# Rows in key order: two objects counted at once lock the rows they share in the same order,
# so they wait for each other instead of deadlocking.
_MERGE = """
INSERT INTO stats_daily_downloads (project, dimension, day, category, mirror, downloads)
SELECT project, dimension, day, category, mirror, downloads FROM stats_incoming
ORDER BY project, dimension, day, category, mirror
ON CONFLICT (project, dimension, day, category, mirror)
DO UPDATE SET downloads = stats_daily_downloads.downloads + EXCLUDED.downloads
"""


def write_rows(session: orm.Session, rows: Iterable[tuple]) -> None:
    """Add ``(project, dimension, day, category, mirror, downloads)`` rows to the aggregates."""
    connection = session.connection()
    connection.exec_driver_sql(_STAGE)
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(
        "COPY stats_incoming (project, dimension, day, category, mirror, downloads) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)
    connection.exec_driver_sql(_MERGE)


def record(session: orm.Session, key: str, tally: Tally) -> bool:
    """Write ``tally`` as the counts of ``key`` in the session's transaction; False (and
    nothing written) if ``key`` was counted before. The caller commits."""
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
    write_rows(session, tally.rows())
    if tally.kept_malformed:
        session.execute(
            sa.insert(MalformedLine),
            [
                {"log_key": key, "line_number": m.line_number, "reason": m.reason, "line": m.line}
                for m in tally.kept_malformed
            ],
        )
    return True


def count(
    session: orm.Session,
    key: str,
    lines: Iterable[str],
    *,
    since: datetime.date | None = None,
) -> Outcome:
    """Tally ``lines`` and record them as ``key``'s counts. The caller commits."""
    if already_counted(session, key):
        return Outcome(key, counted=False)
    # Not inside a transaction while reading: a long object must not hold locks.
    session.rollback()
    started = time.perf_counter()
    tally = Tally(since=since).feed(lines)
    if not record(session, key, tally):
        return Outcome(key, counted=False)
    seconds = time.perf_counter() - started
    from warehouse.stats import metrics

    metrics.observe_object(tally, seconds)
    days = frozenset(k[0] for k in tally.counts)
    projects = frozenset(canonicalize_name(name) for name in {k[1] for k in tally.counts})
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
