"""Keeping a project's closed days together on disk.

Ingest appends each day's rows as the day goes, so a project's year of aggregates lies on
~365 pages, one per day, and the day's first question for its history (the API's answers,
the page's whole range) reads them all: from disk, hundreds of milliseconds. Once a month
has closed, its rows are rewritten in the primary key's order, a share of the projects at a
time: afterwards a project's month is a few neighbouring pages, and a year a dozen runs of
them.

Each share is one transaction that deletes its rows and inserts the same rows back sorted
(one statement), under the aggregates' write lock (writers take turns: a batch with late
lines of that month waits instead of colliding). Readers see the old rows or the new ones,
never neither; counts do not change, so nothing kept of them is forgotten. The share is
recorded (``stats_compacted_shares``) in the same transaction: a share is rewritten once,
and a run killed midway, run again, goes on with the shares not done. Each share is its own
Celery task (minutes each, well within a queue's visibility timeout at any size), and the
one that finishes its month sends the rebuild of the primary key (:func:`rebuild_key_index`),
which the reinsertion leaves up to twice its size.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import driver_connection
from warehouse.stats.ingest import lock_writes
from warehouse.stats.models import CompactedShare

# Shares of the projects (by a hash of the name) rewritten one transaction each: the write
# lock is held for a share's rows only, and each share is a run of neighbouring pages.
SHARES = 16

_MOVE = """
WITH moved AS (
    DELETE FROM stats_daily_downloads
    WHERE day >= %(first)s AND day < %(end)s
        AND (hashtext(project) & 2147483647) %% %(shares)s = %(share)s
    RETURNING project, dimension, day, category, mirror, downloads
)
INSERT INTO stats_daily_downloads (project, dimension, day, category, mirror, downloads)
SELECT project, dimension, day, category, mirror, downloads FROM moved
ORDER BY project, dimension, day, category, mirror
"""


def month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month + datetime.timedelta(days=32)).replace(day=1)


def closed_months(oldest: datetime.date, today: datetime.date) -> list[datetime.date]:
    """The months from ``oldest``'s to the last one that has closed before ``today``."""
    months, month, current = [], month_of(oldest), month_of(today)
    while month < current:
        months.append(month)
        month = next_month(month)
    return months


def compact_share(session: orm.Session, month: datetime.date, share: int) -> int | None:
    """Rewrite ``share`` (of ``SHARES``) of ``month``'s rows in key order and record it, in
    the session's transaction (the caller commits); the rows rewritten, or None if the share
    was already rewritten."""
    month = month_of(month)
    if month >= month_of(datetime.datetime.now(datetime.UTC).date()):
        raise ValueError(f"{month:%Y-%m} has not closed: only closed months are rewritten")
    if not 0 <= share < SHARES:
        raise ValueError(f"share {share} is not one of 0..{SHARES - 1}")
    # Under the lock, the record is read after any other rewrite of this share committed.
    lock_writes(session)
    if session.get(CompactedShare, (month, share)) is not None:
        return None
    cursor = driver_connection(session).cursor()
    parameters = {"first": month, "end": next_month(month), "shares": SHARES, "share": share}
    cursor.execute(_MOVE, parameters)
    session.add(CompactedShare(month=month, share=share, rows=cursor.rowcount))
    session.flush()
    return cursor.rowcount


def shares_left(session: orm.Session, month: datetime.date) -> list[int]:
    """The shares of ``month`` not rewritten yet."""
    done = set(
        session.scalars(
            sa.select(CompactedShare.share).where(CompactedShare.month == month_of(month))
        )
    )
    return [share for share in range(SHARES) if share not in done]


def forget_compactions(
    session: orm.Session, since: datetime.date, until: datetime.date | None = None
) -> None:
    """The months of ``since`` to ``until`` (or on) are to be rewritten again: rows were
    recounted or added there, appended in the order they came."""
    months = CompactedShare.month >= month_of(since)
    if until is not None:
        months &= CompactedShare.month <= month_of(until)
    session.execute(sa.delete(CompactedShare).where(months))


def rebuild_key_index(session_factory) -> None:
    """Rebuild the primary key without blocking readers or writers, after months were
    rewritten: reinserting a month's rows splits its pages all over (at 23.5M rows it grew
    from 1.2 to 2.0 GB, and a project's year read from disk took 57-71 ms instead of
    12-14). Waits for the transactions already running, as REINDEX CONCURRENTLY does."""
    with session_factory() as session:
        engine = session.get_bind()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # A rebuild killed midway leaves its new copy behind, invalid but still written on
        # every insert and update: dropped first, so a rerun ends with the key alone.
        for (leftover,) in connection.exec_driver_sql(_LEFTOVER_COPIES).all():
            connection.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{leftover}"')
        connection.exec_driver_sql("REINDEX INDEX CONCURRENTLY stats_daily_downloads_pkey")


_LEFTOVER_COPIES = """
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'stats_daily_downloads'::regclass AND NOT i.indisvalid
    AND c.relname LIKE 'stats\\_daily\\_downloads\\_pkey\\_ccnew%%'
"""


def compact_month(session_factory, month: datetime.date) -> Iterator[int]:
    """Rewrite the shares of a closed month not rewritten yet, one per transaction; the rows
    of each share as it commits."""
    with session_factory() as session:
        left = shares_left(session, month)
    for share in left:
        with session_factory() as session:
            moved = compact_share(session, month, share)
            session.commit()
        yield moved or 0
