"""A closed month's rows rewritten in key order: the same rows, each project's together."""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from warehouse.stats import compaction
from warehouse.stats.models import CompactedShare

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

    # Each share is recorded with its rows; run again, nothing is rewritten twice.
    with factory() as session:
        assert compaction.shares_left(session, LAST_MONTH) == []
        recorded = session.execute(
            sa.select(CompactedShare.share, CompactedShare.rows).order_by(CompactedShare.share)
        ).all()
    assert recorded == list(enumerate(moved))
    assert list(compaction.compact_month(factory, LAST_MONTH)) == []
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


def test_a_run_killed_midway_goes_on_with_the_shares_not_done(clean_database):
    from warehouse.db import make_session_factory

    with clean_database.begin() as connection:
        _load_day_after_day(connection)
    factory = make_session_factory(clean_database)
    first_run = compaction.compact_month(factory, LAST_MONTH)
    done = [next(first_run) for _ in range(5)]  # then killed: the generator is dropped
    first_run.close()
    with factory() as session:
        assert compaction.shares_left(session, LAST_MONTH) == list(range(5, compaction.SHARES))
    rest = list(compaction.compact_month(factory, LAST_MONTH))
    days = (THIS_MONTH - LAST_MONTH).days
    assert len(rest) == compaction.SHARES - 5
    assert sum(done) + sum(rest) == len(PROJECTS) * 40 * days


def test_one_task_per_share_each_once_and_the_last_sends_the_key_rebuild(
    task_context, tmp_path, monkeypatch
):
    from warehouse import tasks
    from warehouse.stats import tasks as stats_tasks
    from warehouse.storage.local import LocalFileStorage

    ctx = task_context(LocalFileStorage(str(tmp_path)))
    with ctx.session() as session:
        _load_day_after_day(session.connection())
        # A share of last month already rewritten (by the command, say).
        assert compaction.compact_share(session, LAST_MONTH, 3) is not None
    shares, rebuilds = [], []
    monkeypatch.setattr(stats_tasks.compact_share, "delay", lambda *a: shares.append(a))
    monkeypatch.setattr(stats_tasks.rebuild_key, "delay", lambda: rebuilds.append(True))
    previous = tasks._context
    tasks.set_context(ctx)
    try:
        month = LAST_MONTH.isoformat()
        assert stats_tasks.compact_month.apply((month,)).get() == compaction.SHARES - 1
        assert shares == [(month, s) for s in range(compaction.SHARES) if s != 3]
        for args in shares[:-1]:
            assert stats_tasks.compact_share.apply(args).get() is not None
        assert rebuilds == []
        # Delivered twice (a worker lost before its acknowledgement): rewritten once.
        assert stats_tasks.compact_share.apply(shares[0]).get() is None
        assert stats_tasks.compact_share.apply(shares[-1]).get() is not None
        assert rebuilds == [True]
        assert stats_tasks.compact_share.apply(shares[-1]).get() is None
        assert rebuilds == [True]
    finally:
        tasks.set_context(previous)
    config = tasks.celery_config(ctx.settings)
    for name in ("compact_month", "compact_share", "rebuild_key"):
        assert config["task_routes"][f"warehouse.stats.tasks.{name}"] == {"queue": "stats"}


def test_a_recount_forgets_the_compaction_of_its_months(db_session):
    for share in (0, 1):
        db_session.add(CompactedShare(month=LAST_MONTH, share=share, rows=1))
    db_session.flush()
    compaction.forget_compactions(db_session, TODAY)
    assert compaction.shares_left(db_session, LAST_MONTH) == list(range(2, compaction.SHARES))
    compaction.forget_compactions(db_session, LAST_MONTH + datetime.timedelta(days=3))
    assert compaction.shares_left(db_session, LAST_MONTH) == list(range(compaction.SHARES))


def test_rows_added_to_a_compacted_month_have_it_compacted_again(clean_database):
    """Late lines or a backfill append rows to a closed month out of key order: counting
    them forgets that month's compaction (and only that month's), so `compact` redoes it."""
    from warehouse.db import make_session_factory
    from warehouse.stats.ingest import write_rows

    with clean_database.begin() as connection:
        _load_day_after_day(connection)
    factory = make_session_factory(clean_database)
    before_last = (LAST_MONTH - datetime.timedelta(days=1)).replace(day=1)
    with factory() as session:
        session.add(CompactedShare(month=before_last, share=0, rows=1))
        session.commit()
    list(compaction.compact_month(factory, LAST_MONTH))

    with factory() as session:  # today's counts leave every record alone
        write_rows(session, None, [("alpha", "version", TODAY, "9.9", False, 1)])
        session.commit()
        assert compaction.shares_left(session, LAST_MONTH) == []
    with factory() as session:  # a late line of last month
        write_rows(session, None, [("alpha", "version", LAST_MONTH, "9.9", False, 1)])
        session.commit()
        assert compaction.shares_left(session, LAST_MONTH) == list(range(compaction.SHARES))
        assert compaction.shares_left(session, before_last) == list(range(1, compaction.SHARES))


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
