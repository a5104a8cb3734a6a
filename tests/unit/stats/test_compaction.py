"""A closed month's rows rewritten in key order: the same rows, each project's together."""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from warehouse.stats import compaction

TODAY = datetime.datetime.now(datetime.UTC).date()
THIS_MONTH = TODAY.replace(day=1)
LAST_MONTH = (THIS_MONTH - datetime.timedelta(days=1)).replace(day=1)
PROJECTS = ["alpha", "beta", "gamma", "delta"]


def _load_day_after_day(connection) -> None:
    """Last month and this month so far, each day's rows appended as ingest appends them:
    the projects' rows of a day side by side, the days one after another."""
    day = LAST_MONTH
    while day <= TODAY:
        connection.execute(
            sa.text(
                "INSERT INTO stats_daily_downloads "
                "(project, dimension, day, category, mirror, downloads) "
                "SELECT p, 'version', :day, '1.' || v, false, 1 + v "
                "FROM unnest(CAST(:projects AS text[])) p, generate_series(0, 39) v"
            ),
            {"day": day, "projects": PROJECTS},
        )
        day += datetime.timedelta(days=1)


def _rows(connection):
    return set(
        connection.execute(
            sa.text(
                "SELECT project, dimension, day, category, mirror, downloads "
                "FROM stats_daily_downloads"
            )
        )
    )


def _blocks(connection, project: str, first, end) -> list[int]:
    return [
        block
        for (block,) in connection.execute(
            sa.text(
                "SELECT DISTINCT (ctid::text::point)[0]::int FROM stats_daily_downloads "
                "WHERE project = :project AND day >= :first AND day < :end ORDER BY 1"
            ),
            {"project": project, "first": first, "end": end},
        )
    ]


def _together(blocks: list[int]) -> bool:
    return blocks[-1] - blocks[0] + 1 == len(blocks)


def _where_this_month(connection):
    return dict(
        connection.execute(
            sa.text(
                "SELECT ctid::text, project || day || category FROM stats_daily_downloads "
                "WHERE day >= :first"
            ),
            {"first": THIS_MONTH},
        ).all()
    )


def test_a_closed_month_is_rewritten_in_key_order_and_nothing_else_changes(clean_database):
    from warehouse.db import make_session_factory

    with clean_database.begin() as connection:
        _load_day_after_day(connection)
    with clean_database.connect() as connection:
        before = _rows(connection)
        untouched = _where_this_month(connection)
        spread = [_blocks(connection, p, LAST_MONTH, THIS_MONTH) for p in PROJECTS]
    # Appended day after day, each project's month is spread among the others'.
    assert not any(_together(blocks) for blocks in spread)

    factory = make_session_factory(clean_database)
    moved = list(compaction.compact_month(factory, LAST_MONTH))
    days = (THIS_MONTH - LAST_MONTH).days
    assert len(moved) == compaction.SHARES and sum(moved) == len(PROJECTS) * 40 * days

    with clean_database.connect() as connection:
        assert _rows(connection) == before
        for project in PROJECTS:
            blocks = _blocks(connection, project, LAST_MONTH, THIS_MONTH)
            assert _together(blocks), (project, blocks)
            assert len(blocks) < len(spread[PROJECTS.index(project)])
        # The open month's rows were not moved.
        assert _where_this_month(connection) == untouched

    # Again: the same rows, still together (a run killed midway is run again).
    assert sum(compaction.compact_month(factory, LAST_MONTH)) == sum(moved)
    compaction.rebuild_key_index(factory)
    with clean_database.connect() as connection:
        assert _rows(connection) == before
        valid = connection.scalar(
            sa.text(
                "SELECT indisvalid AND indisprimary FROM pg_index "
                "WHERE indexrelid = 'stats_daily_downloads_pkey'::regclass"
            )
        )
        assert valid
        # The rebuilt key still refuses a second row of a key.
        with pytest.raises(sa.exc.IntegrityError):
            connection.execute(
                sa.text(
                    "INSERT INTO stats_daily_downloads "
                    "(project, dimension, day, category, mirror, downloads) "
                    "VALUES ('alpha', 'version', :day, '1.0', false, 1)"
                ),
                {"day": LAST_MONTH},
            )


def test_an_open_month_is_not_rewritten(db_session):
    with pytest.raises(ValueError, match="has not closed"):
        compaction.compact_share(db_session, THIS_MONTH, 0)


def test_closed_months_and_the_night_a_month_is_rewritten():
    from warehouse.stats.tasks import month_to_compact

    assert compaction.closed_months(datetime.date(2026, 10, 17), datetime.date(2026, 12, 5)) == [
        datetime.date(2026, 10, 1),
        datetime.date(2026, 11, 1),
    ]
    assert compaction.closed_months(datetime.date(2026, 12, 1), datetime.date(2026, 12, 5)) == []
    assert month_to_compact(datetime.date(2026, 12, 2)) == "2026-11-01"
    assert month_to_compact(datetime.date(2027, 1, 2)) == "2026-12-01"
    assert month_to_compact(datetime.date(2026, 12, 5)) is None


def test_a_key_rebuild_killed_midway_leaves_nothing_behind_after_the_next(clean_database):
    """REINDEX CONCURRENTLY killed midway leaves an invalid copy of the key (``_ccnew``),
    still written on every insert; the next rebuild drops it."""
    from warehouse.db import make_session_factory

    with clean_database.begin() as connection:
        _load_day_after_day(connection)
    # A copy left invalid, as a killed rebuild leaves it (here: unique on day, which fails).
    autocommit = clean_database.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as connection, pytest.raises(sa.exc.IntegrityError):
        connection.exec_driver_sql(
            "CREATE UNIQUE INDEX CONCURRENTLY stats_daily_downloads_pkey_ccnew "
            "ON stats_daily_downloads (day)"
        )

    def indexes():
        with clean_database.connect() as connection:
            return dict(
                connection.execute(
                    sa.text(
                        "SELECT c.relname, i.indisvalid FROM pg_index i "
                        "JOIN pg_class c ON c.oid = i.indexrelid "
                        "WHERE i.indrelid = 'stats_daily_downloads'::regclass"
                    )
                ).all()
            )

    assert indexes()["stats_daily_downloads_pkey_ccnew"] is False
    compaction.rebuild_key_index(make_session_factory(clean_database))
    after = indexes()
    assert "stats_daily_downloads_pkey_ccnew" not in after
    assert after["stats_daily_downloads_pkey"] is True and all(after.values())
