"""Download counts: daily aggregates, the log objects already counted, lines kept aside.

Projects are named by their normalized name, not a foreign key: a log may name a project that
was deleted since, and its downloads still happened. No IP address is ever stored.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import Model, utcnow

# The dimensions a day's downloads are broken down by; "overall" has the one category "".
DIMENSIONS = (
    "overall",
    "version",
    "installer",
    "python_major",
    "python_minor",
    "system",
    "country",
    "file_type",
    # The upstream a mirrored file was downloaded through (warehouse.upstreams.downloads).
    "upstream",
)


# Keys compare byte by byte: the "C" collation sorts and compares without the locale's
# routines (a quarter of a batch's merge), in the order C.UTF-8 gives UTF-8 anyway.
KEY_TEXT = sa.Text(collation="C")
# Half of each page is left free: a batch adds to every row of the day's pages in one
# transaction, and each row's new version must fit beside the old one for the update to be
# heap-only (no index entry, no other page). At 70, 57% of a second pass's updates were
# not, and cost PostgreSQL twice the CPU (bench/RESULTS.md). The table takes about twice
# the space of its rows.
FILLFACTOR = 50


class DailyDownloads(Model):
    """Downloads of one project on one UTC day, in one category of one dimension.

    ``mirror`` separates downloads by mirroring tools (bandersnatch, devpi, ...) from the rest,
    so every series exists "with" and "without" mirrors.
    """

    __tablename__ = "stats_daily_downloads"

    project: orm.Mapped[str] = orm.mapped_column(KEY_TEXT, primary_key=True)
    dimension: orm.Mapped[str] = orm.mapped_column(KEY_TEXT, primary_key=True)
    day: orm.Mapped[datetime.date] = orm.mapped_column(sa.Date, primary_key=True)
    category: orm.Mapped[str] = orm.mapped_column(KEY_TEXT, primary_key=True)
    mirror: orm.Mapped[bool] = orm.mapped_column(primary_key=True)
    downloads: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)

    __table_args__ = (
        # Exports, rebuilds and each batch's merge read by day. Rows are appended about in
        # day order, so a block range index finds a day's rows at a fraction of a B-tree's
        # upkeep on every insert.
        sa.Index("ix_stats_daily_downloads_day", "day", postgresql_using="brin"),
        # An upstream's downloads over every project it mirrors.
        sa.Index(
            "ix_stats_daily_downloads_upstream",
            "category",
            "day",
            postgresql_where=sa.text("dimension = 'upstream'"),
        ),
        # Room in each page for a row's next version: adding to today's counts is then a
        # heap-only update, which writes no index entry (about a third of a batch's cost).
        {"postgresql_with": {"fillfactor": FILLFACTOR}},
    )


class CountedLog(Model):
    """A log object whose lines are in the aggregates: written in the same transaction as
    its counts, so an object is counted once and only once."""

    __tablename__ = "stats_counted_logs"

    key: orm.Mapped[str] = orm.mapped_column(sa.Text, primary_key=True)
    counted_at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    lines: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    downloads: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    # Downloads by a user agent linehaul ignores (bots, monitors): not counted.
    ignored: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    # Index page (``simple``) lines: read, not counted as downloads.
    index_pages: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    malformed: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    # The oldest and newest event in the object: the newest is what "lag" is measured from.
    first_event: orm.Mapped[datetime.datetime | None]
    last_event: orm.Mapped[datetime.datetime | None] = orm.mapped_column(index=True)
    # Only days on or after this one were counted (a rebuild); None: every day.
    counted_from: orm.Mapped[datetime.date | None] = orm.mapped_column(sa.Date)


class MalformedLine(Model):
    """A line that could not be counted, kept with the reason (the first few per object)."""

    __tablename__ = "stats_malformed_lines"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True)
    log_key: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    line_number: orm.Mapped[int]
    reason: orm.Mapped[str] = orm.mapped_column(sa.Text)
    line: orm.Mapped[str] = orm.mapped_column(sa.Text)


class CompactedShare(Model):
    """A share of a closed month's projects whose rows were rewritten in key order
    (:mod:`warehouse.stats.compaction`): written in the same transaction as the rewrite, so
    a share is rewritten once, however often its task is delivered."""

    __tablename__ = "stats_compacted_shares"

    month: orm.Mapped[datetime.date] = orm.mapped_column(sa.Date, primary_key=True)
    share: orm.Mapped[int] = orm.mapped_column(sa.SmallInteger, primary_key=True)
    rows: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    compacted_at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
