"""Counting log objects, once and only once, several per transaction.

A worker takes a batch of objects and tallies each in memory (:class:`~warehouse.stats.lines.
Tally`), merging their aggregate rows as it goes (:class:`~warehouse.stats.lines.Aggregates`:
a row many objects share is summed once), until the batch is read or its merged rows reach
``max_rows`` (memory stays bounded whatever the objects). Then **one transaction**:

1. every object's row in ``stats_counted_logs`` (``ON CONFLICT DO NOTHING RETURNING key``):
   an object another worker is counting makes this one wait on its key, then find it; if
   any object of the batch turns out counted, the transaction is rolled back and the batch
   read again without it, so nothing is ever added twice;
2. the merged rows, with one ``COPY`` into a temporary table (no WAL, no index);
3. one ``MERGE`` into ``stats_daily_downloads``, under an advisory lock that makes writers
   (and ``rebuild``) take turns: the write is PostgreSQL's work either way, turns leave no
   deadlock to resolve between batches that share rows, and they are what makes ``MERGE``
   (half the cost of ``INSERT … ON CONFLICT``) safe;
4. the malformed lines kept aside (up to 100 per object).

A crash before the commit leaves nothing; a retry or a second run after it adds nothing.
The upsert is paid once per distinct row of the batch, not per row per object: the more
objects a batch holds, the fewer rows per line PostgreSQL writes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import datetime
import io
import itertools
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
import structlog
from pyarrow import csv as pa_csv
from sqlalchemy import orm

from warehouse.db import driver_connection
from warehouse.stats.lines import Aggregates, Tally
from warehouse.stats.models import CountedLog, MalformedLine

try:
    from isal import isal_zlib as _inflater
except ImportError:  # pragma: no cover - a platform without its wheel: zlib, slower
    _inflater = zlib

log = structlog.get_logger(__name__)

LOGS_PREFIX = "logs/"
# Merged aggregate rows a batch may hold before it is written (about 50 bytes of memory
# each in Arrow's columns): a batch stops taking objects there, and the next transaction
# takes the rest.
BATCH_MAX_ROWS = 3_000_000
# Writers of aggregates (batches, rebuild) take turns on this lock.
WRITE_LOCK = 0x57A7_F01D
_READ_SIZE = 1 << 20
# Lines are counted by blocks of about this many bytes (see warehouse.stats.lines).
_BLOCK_SIZE = 32 << 20


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


class LogLines:
    """The lines of a log stream (any object with ``read(n)``: a file, an S3 body), without
    their ``\\n``, gunzipped when ``name`` ends in ``.gz``; or, for the counting, whole
    blocks of them (:meth:`blocks`).

    Read a megabyte at a time and split in C: iterating a ``GzipFile`` or a text wrapper
    line by line costs more than counting the line. Bytes, not text: a value is decoded
    only once per distinct value (bytes that are not UTF-8 are replaced then, never fatal).
    """

    def __init__(self, stream: BinaryIO, name: str):
        self.stream, self.name = stream, name

    def blocks(self) -> Iterator[bytes]:
        """Blocks of whole lines, ``\\n`` between lines and none after the last, of at least
        ``_BLOCK_SIZE`` bytes but the last."""
        stream = self.stream
        chunks = _gunzipped(stream) if self.name.endswith(".gz") else _chunks(stream)
        pending: list[bytes] = []
        size = 0
        for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size < _BLOCK_SIZE:
                continue
            cut = chunk.rfind(b"\n")
            if cut < 0:
                continue
            # One copy of the block's bytes (a memoryview does not copy the chunk's head).
            block = b"".join([*pending[:-1], memoryview(chunk)[:cut]])
            tail = chunk[cut + 1 :]
            pending, size = ([tail], len(tail)) if tail else ([], 0)
            yield block
        data = b"".join(pending)
        if data:
            yield data[:-1] if data.endswith(b"\n") else data

    def __iter__(self) -> Iterator[bytes]:
        for block in self.blocks():
            yield from block.split(b"\n")


def object_lines(stream: BinaryIO, name: str) -> LogLines:
    """The lines of a log stream, by line or by block (see :class:`LogLines`)."""
    return LogLines(stream, name)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_READ_SIZE):
        yield chunk


def _gunzipped(stream: BinaryIO) -> Iterator[bytes]:
    """Gunzip, member after member (a log may be several gzip streams one after another).
    With ISA-L's inflate: the same answer as zlib's in half its CPU time."""
    inflate = _inflater.decompressobj(zlib.MAX_WBITS | 16)
    for chunk in _chunks(stream):
        while chunk:
            yield inflate.decompress(chunk)
            if not inflate.eof:
                break
            chunk = inflate.unused_data
            inflate = _inflater.decompressobj(zlib.MAX_WBITS | 16)
    yield inflate.flush()


def already_counted(session: orm.Session, key: str) -> bool:
    return session.get(CountedLog, key) is not None


def counted_keys(session: orm.Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are counted already."""
    if not keys:
        return set()
    return set(session.scalars(sa.select(CountedLog.key).where(CountedLog.key.in_(list(keys)))))


_STAGE = (
    'CREATE TEMPORARY TABLE stats_batch (project text COLLATE "C", dimension text COLLATE "C", '
    'day date, category text COLLATE "C", mirror boolean, downloads bigint) ON COMMIT DROP'
)
_KEY = ("project", "dimension", "day", "category", "mirror")
_COPY = "COPY stats_batch (project, dimension, day, category, mirror, downloads) FROM STDIN"
_COPY_CSV = _COPY + " WITH (FORMAT csv)"
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False)
# A join, then each row updated or inserted: half the CPU of INSERT … ON CONFLICT DO UPDATE,
# whose every row is a speculative insert and a tuple lock before its update. MERGE is safe
# here only because writers take turns (``lock_writes``): two MERGEs inserting one key at
# once would fail on the primary key. Only the batch's days are joined, so the table's side
# is read through the primary key or the day index, never scanned whole (at 23.5M rows, a
# day's batch of 64,000 rows is planned as probes of the primary key).
_MERGE = """
MERGE INTO stats_daily_downloads AS d
USING stats_batch AS b
ON d.project = b.project AND d.dimension = b.dimension AND d.day = b.day
    AND d.category = b.category AND d.mirror = b.mirror
    AND d.day BETWEEN %(first)s AND %(last)s
WHEN MATCHED THEN UPDATE SET downloads = d.downloads + b.downloads
WHEN NOT MATCHED THEN INSERT (project, dimension, day, category, mirror, downloads)
    VALUES (b.project, b.dimension, b.day, b.category, b.mirror, b.downloads)
"""


def lock_writes(session: orm.Session) -> None:
    """Hold the aggregates' write lock until the session's transaction ends."""
    session.connection().exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def in_key_order(table):
    """The rows of ``table`` sorted by ``_KEY`` as the "C" collation orders it (bytes).

    Each text column is replaced by the rank of its value among the column's distinct values
    for the sort: a few thousand distinct projects and categories are compared as strings
    once, and the millions of rows as integers, in under half the time of a sort by the
    strings themselves."""
    ranked = {}
    for name in _KEY:
        column = table.column(name).combine_chunks()
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            distinct = pc.dictionary_encode(column)
            ranks = pc.rank(distinct.dictionary, sort_keys="ascending", tiebreaker="first")
            column = pc.take(ranks, distinct.indices)
        ranked[name] = column
    order = pc.sort_indices(pa.table(ranked), sort_keys=[(name, "ascending") for name in _KEY])
    return table.take(order)


def write_rows(session: orm.Session, table, extra: Iterable[tuple] = ()) -> int:
    """Add the rows of the Arrow ``table`` (``project, dimension, day, category, mirror,
    downloads``, each key at most once) and the ``extra`` rows (tuples, keys of their own)
    to the daily aggregates, in the session's transaction; the rows written.

    The table goes to PostgreSQL as CSV written by Arrow (no Python object per row)."""
    cursor = driver_connection(session).cursor()
    cursor.execute(_STAGE)
    if table is not None:
        # In the primary key's order (bytes, as the "C" collation compares): new rows then
        # go into the index page after page, not all over it (about half the cost of an
        # insert, and sorted here, on the worker's side, not PostgreSQL's).
        table = in_key_order(table)
        with cursor.copy(_COPY_CSV) as copy:
            for batch in table.to_batches(max_chunksize=200_000):
                buffer = io.BytesIO()
                pa_csv.write_csv(batch, buffer, _CSV_OPTIONS)
                copy.write(buffer.getbuffer())
    with cursor.copy(_COPY) as copy:
        write = copy.write_row
        for row in extra:
            write(row)
    # The planner's row counts for the join (a temporary table has none until analyzed).
    cursor.execute("ANALYZE stats_batch")
    first, last = cursor.execute("SELECT min(day), max(day) FROM stats_batch").fetchone()
    if first is None:
        return 0
    lock_writes(session)
    cursor.execute(_MERGE, {"first": first, "last": last})
    written = cursor.rowcount
    if first < datetime.datetime.now(datetime.UTC).date().replace(day=1):
        # Rows added to a closed month (late lines, a backfill) are out of key order there:
        # its compaction is to be redone (warehouse stats compact).
        from warehouse.stats.compaction import forget_compactions

        forget_compactions(session, first, last)
    return written


class CountedMeanwhile(Exception):
    """Objects of the batch were counted by another worker since the batch was read."""

    def __init__(self, keys: set[str]):
        super().__init__(f"counted meanwhile: {', '.join(sorted(keys))}")
        self.keys = keys


def record_batch(
    session: orm.Session, tallies: Sequence[tuple[str, Tally]], aggregates: Aggregates
) -> set[str]:
    """Write the objects ``tallies`` as counted, with their merged ``aggregates``, in the
    session's transaction (the caller commits). Returns the keys that turned out counted
    before: then nothing else was written, and the caller rolls back."""
    if not tallies:
        return set()
    values = []
    for key, tally in tallies:
        first, last = tally.event_range()
        values.append(
            {
                "key": key,
                "lines": tally.lines,
                "downloads": tally.downloads,
                "ignored": tally.ignored,
                "index_pages": tally.index_pages,
                "malformed": tally.malformed,
                "first_event": first,
                "last_event": last,
                "counted_from": tally.since,
            }
        )
    # Key order: two batches that share objects wait for each other instead of deadlocking.
    values.sort(key=lambda v: v["key"])
    claimed = set(
        session.scalars(
            sa.dialects.postgresql.insert(CountedLog)
            .values(values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(CountedLog.key)
        )
    )
    before = {key for key, _ in tallies} - claimed
    if before:
        return before
    # Downloads through an upstream count under its name too (looked up before the COPY).
    from warehouse.upstreams.downloads import DIMENSION, releases_by_upstream, with_upstream_rows

    table = aggregates.table()
    through_upstreams = releases_by_upstream(session, aggregates.projects)
    extra = []
    if through_upstreams and table is not None:
        mirrored = pa.array(sorted({project for project, _ in through_upstreams}), pa.string())
        versions = table.filter(
            pc.and_(
                pc.equal(table.column("dimension"), "version"),
                pc.is_in(table.column("project"), value_set=mirrored),
            )
        )
        version_rows = zip(*(column.to_pylist() for column in versions.columns), strict=True)
        extra = [
            row
            for row in with_upstream_rows(version_rows, through_upstreams)
            if row[1] == DIMENSION
        ]
    written = write_rows(session, table, extra)
    kept = [
        {"log_key": key, "line_number": m.line_number, "reason": m.reason, "line": m.line}
        for key, tally in tallies
        for m in tally.kept_malformed
    ]
    if kept:
        session.execute(sa.insert(MalformedLine), kept)
    from warehouse.stats import metrics

    metrics.BATCH_ROWS.observe(written)
    return set()


def record(session: orm.Session, key: str, tally: Tally) -> bool:
    """Write ``tally`` as the counts of ``key`` in the session's transaction; False (and
    nothing written) if ``key`` was counted before. The caller commits."""
    aggregates = Aggregates()
    aggregates.add(tally)
    return not record_batch(session, [(key, tally)], aggregates)


# A source of lines: a key and what opens its lines (a context manager yielding them).
Source = tuple[str, Callable[[], Any]]


def count_batch(
    session: orm.Session,
    sources: Sequence[Source],
    *,
    since: datetime.date | None = None,
    max_rows: int = BATCH_MAX_ROWS,
    threads: int = 1,
) -> list[Outcome]:
    """Count the objects of ``sources`` in order, read ``threads`` at a time and merged into
    one transaction, until their merged rows reach ``max_rows``; the caller commits. Returns
    an outcome for each source taken (a prefix of ``sources``: the caller passes the rest to
    the next batch)."""
    sources = list(sources)
    while True:
        before = counted_keys(session, [key for key, _ in sources])
        # Not inside a transaction while reading: a long batch must not hold locks.
        session.rollback()
        started = time.perf_counter()
        aggregates = Aggregates()
        read: list[tuple[str, Tally, float, frozenset, frozenset]] = []
        taken = len(sources)
        with contextlib.closing(_tallies(sources, before, since, threads)) as tallies:
            for index, key, tally, seconds in tallies:
                projects, days = aggregates.add(tally)
                tally.forget_keys()  # broken down: only the merged rows are kept
                read.append((key, tally, seconds, projects, days))
                if aggregates.upper_bound() >= max_rows and len(aggregates) >= max_rows:
                    taken = index + 1
                    break
        writing = time.perf_counter()
        meanwhile = record_batch(session, [(key, tally) for key, tally, *_ in read], aggregates)
        if not meanwhile:
            break
        # Another worker counted some of them since the check: read the rest again.
        log.info("log objects counted meanwhile; batch read again", keys=sorted(meanwhile))
        session.rollback()
    write_seconds = time.perf_counter() - writing
    lines = sum(tally.lines for _, tally, *_ in read)
    from warehouse.stats import metrics

    outcomes = {key: Outcome(key, counted=False) for key, _ in sources[:taken]}
    for key, tally, seconds, projects, days in read:
        # Each object bears the write in proportion to its lines.
        share = write_seconds * tally.lines / lines if lines else 0.0
        metrics.observe_object(tally, seconds + share)
        outcomes[key] = Outcome(
            key,
            counted=True,
            lines=tally.lines,
            downloads=tally.downloads,
            ignored=tally.ignored,
            malformed=tally.malformed,
            seconds=seconds + share,
            projects=projects,
            days=days,
        )
    if read:
        total = time.perf_counter() - started
        log.info(
            "log objects counted",
            objects=len(read),
            keys=[key for key, *_ in read][:20],
            lines=lines,
            aggregate_rows=len(aggregates),
            seconds=round(total, 2),
            write_seconds=round(write_seconds, 2),
            lines_per_second=round(lines / total) if total else None,
        )
    return [outcomes[key] for key, _ in sources[:taken]]


def _tallies(
    sources: Sequence[Source], skip: set[str], since: datetime.date | None, threads: int
) -> Iterator[tuple[int, str, Tally, float]]:
    """``(index in sources, key, tally, seconds)`` of each source not in ``skip``, in order,
    read ``threads`` at a time: gunzip and Arrow's parsing and group-bys let go of the GIL,
    so two threads read about 1.5 times as fast as one on two cores, and one batch read by
    both cores is one merge instead of two. Closed early, the reads under way are finished
    and dropped (the next batch reads those objects again)."""

    def read(index: int, key: str, opener) -> tuple[int, str, Tally, float]:
        began = time.perf_counter()
        with opener() as lines:
            tally = Tally(since=since).feed(lines)
        return index, key, tally, time.perf_counter() - began

    wanted = ((i, key, opener) for i, (key, opener) in enumerate(sources) if key not in skip)
    if threads <= 1:
        yield from itertools.starmap(read, wanted)
        return
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="stats-read") as pool:
        under_way = collections.deque(
            pool.submit(read, *s) for s in itertools.islice(wanted, threads)
        )
        try:
            while under_way:
                done = under_way.popleft().result()
                under_way.extend(pool.submit(read, *s) for s in itertools.islice(wanted, 1))
                yield done
        finally:
            for future in under_way:
                future.cancel()


def count(
    session: orm.Session,
    key: str,
    lines: Iterable[bytes] | Iterable[str],
    *,
    since: datetime.date | None = None,
) -> Outcome:
    """Tally ``lines`` and record them as ``key``'s counts, alone in a batch (see
    :func:`count_batch`). The caller commits."""
    [outcome] = count_batch(session, [(key, lambda: contextlib.nullcontext(lines))], since=since)
    return outcome


def count_all(
    session_factory,
    sources: Sequence[Source],
    *,
    since: datetime.date | None = None,
    max_rows: int = BATCH_MAX_ROWS,
    threads: int = 1,
) -> Iterator[Outcome]:
    """Count every source, as many per transaction as ``max_rows`` allows, each batch
    committed before the next is read; the outcomes as their batches commit."""
    remaining = list(sources)
    while remaining:
        with session_factory() as session:
            outcomes = count_batch(
                session, remaining, since=since, max_rows=max_rows, threads=threads
            )
            session.commit()
        remaining = remaining[len(outcomes) :]
        yield from outcomes
