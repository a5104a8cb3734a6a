"""Counting a log object against the real PostgreSQL: exactly once, whatever happens."""

import datetime
import gzip
import io
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from tests.unit.stats import agents
from tests.unit.stats.agents import download_line, simple_line
from warehouse.stats import ingest
from warehouse.stats.models import CountedLog, DailyDownloads, MalformedLine
from warehouse.stats.services import DatabaseStatsService

DAY = datetime.date(2026, 12, 4)


def _lines():
    return [
        download_line(agents.PIP),
        download_line(agents.PIP, version="2.0"),
        download_line(agents.UV),
        download_line(agents.BANDERSNATCH),
        download_line(agents.GOOGLEBOT),
        simple_line(agents.PIP),
        "garbage\n",
    ]


def _totals(session):
    t = DailyDownloads
    rows = session.execute(sa.select(t.dimension, t.category, t.mirror, t.downloads)).all()
    return {(d, c, m): n for d, c, m, n in rows}


def _overall(session):
    return sorted(
        session.execute(
            sa.select(DailyDownloads.mirror, DailyDownloads.downloads).where(
                DailyDownloads.dimension == "overall"
            )
        ).all()
    )


def test_an_object_is_counted_with_its_malformed_lines_kept(db_session):
    outcome = ingest.count(db_session, "logs/a.log", _lines())
    db_session.commit()
    assert outcome.counted and (outcome.lines, outcome.downloads) == (7, 4)
    assert (outcome.ignored, outcome.malformed) == (1, 1)
    assert outcome.projects == {"sampleproject"}
    assert _overall(db_session) == [(False, 3), (True, 1)]
    row = db_session.get(CountedLog, "logs/a.log")
    assert (row.lines, row.downloads, row.index_pages, row.malformed) == (7, 4, 1, 1)
    [kept] = db_session.scalars(sa.select(MalformedLine)).all()
    assert (kept.log_key, kept.line_number, kept.line) == ("logs/a.log", 7, "garbage\n")


def test_the_same_object_twice_adds_nothing(db_session):
    ingest.count(db_session, "logs/a.log", _lines())
    db_session.commit()
    before = _totals(db_session)
    again = ingest.count(db_session, "logs/a.log", _lines())
    db_session.commit()
    assert not again.counted
    assert _totals(db_session) == before
    # A different object with the same lines adds up.
    ingest.count(db_session, "logs/b.log", _lines())
    db_session.commit()
    assert _overall(db_session) == [(False, 6), (True, 2)]


def test_a_concurrent_second_count_waits_then_adds_nothing(clean_database):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    first, second = factory(), factory()
    try:
        tally = ingest.Tally().feed(_lines())
        assert ingest.record(first, "logs/a.log", tally)  # not committed yet
        first.commit()
        assert not ingest.record(second, "logs/a.log", ingest.Tally().feed(_lines()))
        second.rollback()
        assert _overall(first) == [(False, 3), (True, 1)]
    finally:
        first.close()
        second.close()


def test_gzipped_and_plain_objects_read_alike():
    body = "".join(_lines()).encode()
    plain = list(ingest.text_lines(io.BytesIO(body), "x.log"))
    zipped = list(ingest.text_lines(io.BytesIO(gzip.compress(body)), "x.log.gz"))
    assert plain == zipped == _lines()


def test_recent_counts_today_week_month_without_mirrors(db_session):
    today = DAY
    lines = []
    for days_ago, n in ((0, 1), (3, 2), (10, 4), (40, 8)):
        stamp = (
            datetime.datetime(2026, 12, 4, 12, tzinfo=datetime.UTC)
            - datetime.timedelta(days=days_ago)
        ).strftime("%a, %d %b %Y %H:%M:%S GMT")
        lines += [download_line(agents.PIP, stamp=stamp)] * n
        lines += [download_line(agents.DEVPI, stamp=stamp)]
    ingest.count(db_session, "logs/r.log", lines)
    db_session.commit()
    recent = DatabaseStatsService(db_session).recent("sampleproject", today=today)
    assert recent == {"last_day": 1, "last_week": 3, "last_month": 7}


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from warehouse import db
    from warehouse.stats import ingest
    from tests.unit.stats.agents import download_line, PIP

    def lines():
        for number in range(20_000):
            if number == 15_000:
                os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-file
            yield download_line(PIP)

    session = db.make_session_factory(db.create_engine(sys.argv[1]))()
    ingest.count(session, "logs/killed.log", lines())
    session.commit()
    """
)


def test_a_worker_killed_mid_file_then_rerun_counts_exactly(db_session, database_url):
    result = subprocess.run(
        [sys.executable, "-c", KILLER, database_url],
        cwd=os.getcwd(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert db_session.get(CountedLog, "logs/killed.log") is None
    assert _overall(db_session) == []
    ingest.count(db_session, "logs/killed.log", [download_line(agents.PIP)] * 20_000)
    db_session.commit()
    assert _overall(db_session) == [(False, 20_000)]


@pytest.mark.parametrize("since", [DAY])
def test_counting_from_a_day_leaves_the_days_before(db_session, since):
    lines = [
        download_line(agents.PIP, stamp="Thu, 03 Dec 2026 10:00:00 GMT"),
        download_line(agents.PIP),
    ]
    ingest.count(db_session, "logs/s.log", lines, since=since)
    db_session.commit()
    assert db_session.scalars(sa.select(DailyDownloads.day).distinct()).all() == [DAY]


def test_metrics_show_lines_and_lag(db_session):
    from prometheus_client import generate_latest

    from warehouse.metrics import registry_for_scrape
    from warehouse.stats.metrics import lag_seconds

    assert lag_seconds(db_session) is None
    ingest.count(db_session, "logs/m.log", _lines())
    db_session.commit()
    now = datetime.datetime(2026, 12, 4, 21, 56, 44, tzinfo=datetime.UTC)
    assert lag_seconds(db_session, now) == 60.0

    class Context:
        def session(self):
            import contextlib

            return contextlib.nullcontext(db_session)

    text = generate_latest(registry_for_scrape(lambda: Context())).decode()
    assert 'warehouse_stats_lines_total{outcome="download"}' in text
    assert "warehouse_stats_lag_seconds " in text


def _rows_of_lines():
    return len(list(ingest.Tally().feed(_lines()).rows()))


def _pending(session):
    from warehouse.stats.models import pending_downloads

    return session.scalar(sa.select(sa.func.count()).select_from(pending_downloads))


def test_objects_counted_without_folding_are_added_once_by_one_fold(clean_database):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    with factory() as session:
        for key in ("logs/a.log", "logs/b.log"):
            assert ingest.count(session, key, _lines(), fold_now=False).counted
            session.commit()
        # Counted (a second count adds nothing) but not in the aggregates yet.
        assert not ingest.count(session, "logs/a.log", _lines(), fold_now=False).counted
        assert _overall(session) == [] and _pending(session) > 0
        # A fold that does not commit (a crash) leaves the rows pending.
        # Both objects' rows, summed: one aggregate row per key.
        assert ingest.fold(session) == _rows_of_lines()
        session.rollback()
        assert _overall(session) == []
        assert ingest.fold_all(factory) == _rows_of_lines()
        assert _overall(session) == [(False, 6), (True, 2)]
        assert _pending(session) == 0
        assert ingest.fold_all(factory) == 0
        assert _overall(session) == [(False, 6), (True, 2)]


def test_a_fold_skips_while_another_runs_and_the_next_takes_the_rows(clean_database):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    with factory() as busy, factory() as session:
        assert ingest.lock_folds(busy)  # another worker folding
        ingest.count(session, "logs/a.log", _lines(), fold_now=False)
        session.commit()
        assert ingest.fold(session) is None
        session.rollback()
        assert ingest.fold_all(factory) == 0 and _pending(session) > 0
        busy.rollback()
        assert ingest.fold_all(factory) == _rows_of_lines()
        assert _overall(session) == [(False, 3), (True, 1)]


def test_folding_in_batches_adds_every_row_once(clean_database):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    with factory() as session:
        for key in ("logs/a.log", "logs/b.log", "logs/c.log"):
            ingest.count(session, key, _lines(), fold_now=False)
            session.commit()
        while ingest.fold(session, limit=5):
            session.commit()
        session.commit()
        assert _overall(session) == [(False, 9), (True, 3)] and _pending(session) == 0
