"""Counting a log object against the real PostgreSQL: exactly once, whatever happens."""

import contextlib
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
    expected = [line.rstrip("\n").encode() for line in _lines()]
    plain = list(ingest.object_lines(io.BytesIO(body), "x.log"))
    zipped = list(ingest.object_lines(io.BytesIO(gzip.compress(body)), "x.log.gz"))
    assert plain == zipped == expected
    # Lines across read chunks, a last line without its newline, gzip members one after
    # another (as appended logs are).
    long = [f"line {n} ".encode() * 50 for n in range(5000)]
    body = b"\n".join(long)
    members = gzip.compress(body[:300_000]) + gzip.compress(body[300_000:])
    assert list(ingest.object_lines(io.BytesIO(body), "y.log")) == long
    assert list(ingest.object_lines(io.BytesIO(members), "y.log.gz")) == long


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


def _sources(*keys, lines=None):
    return [(key, lambda: contextlib.nullcontext(lines or _lines())) for key in keys]


# Objects are read one after the other, or several at once by threads (stats_read_threads):
# the same counts, the same prefix taken, the same guarantees.
THREADS = pytest.mark.parametrize("threads", [1, 3], ids=["1 thread", "3 threads"])


@THREADS
def test_a_batch_of_objects_is_written_merged_in_one_transaction(clean_database, threads):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    with factory() as session:
        outcomes = ingest.count_batch(
            session, _sources("logs/a.log", "logs/b.log", "logs/c.log"), threads=threads
        )
        # Nothing is visible before the caller commits: one transaction for the three.
        with factory() as other:
            assert other.scalar(sa.select(sa.func.count()).select_from(CountedLog)) == 0
        session.commit()
        assert [o.counted for o in outcomes] == [True, True, True]
        assert _overall(session) == [(False, 9), (True, 3)]
        # Each object's own figures, its malformed lines kept under its own key.
        assert {r.key: r.lines for r in session.scalars(sa.select(CountedLog))} == {
            "logs/a.log": 7,
            "logs/b.log": 7,
            "logs/c.log": 7,
        }
        kept = session.scalars(sa.select(MalformedLine.log_key).order_by(MalformedLine.log_key))
        assert kept.all() == ["logs/a.log", "logs/b.log", "logs/c.log"]
        # A batch with a counted object and a new one adds only the new one.
        again = ingest.count_batch(session, _sources("logs/b.log", "logs/d.log"), threads=threads)
        session.commit()
        assert [(o.key, o.counted) for o in again] == [("logs/b.log", False), ("logs/d.log", True)]
        assert _overall(session) == [(False, 12), (True, 4)]


@THREADS
def test_a_batch_stops_at_its_rows_and_the_next_transaction_takes_the_rest(clean_database, threads):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    rows = len(list(ingest.Tally().feed(_lines()).rows()))
    keys = [f"logs/{n}.log" for n in range(5)]
    batches = []
    with factory() as session:
        remaining = _sources(*keys)
        while remaining:
            taken = ingest.count_batch(session, remaining, max_rows=rows + 1, threads=threads)
            session.commit()
            batches.append([o.key for o in taken])
            remaining = remaining[len(taken) :]
        # The same lines in each object: merged, they stay `rows` rows, so one batch.
        assert batches == [keys]
        assert _overall(session) == [(False, 15), (True, 5)]

    # Objects with rows of their own: each fills a batch of max_rows by itself.
    def lines_of(n):
        return [agents.download_line(agents.PIP, project=f"p{n}")]

    sources = [
        (f"logs/p{n}.log", lambda n=n: contextlib.nullcontext(lines_of(n))) for n in range(3)
    ]
    per_object = len(list(ingest.Tally().feed(lines_of(0)).rows()))
    with factory() as session:
        # Objects read ahead by the other threads are dropped, not counted.
        [first] = ingest.count_batch(session, sources, max_rows=per_object, threads=threads)
        assert first.key == "logs/p0.log"
        session.commit()
        assert ingest.counted_keys(session, [k for k, _ in sources]) == {"logs/p0.log"}
    outcomes = list(ingest.count_all(factory, sources, max_rows=per_object, threads=threads))
    assert [(o.key, o.counted) for o in outcomes] == [
        ("logs/p0.log", False),
        ("logs/p1.log", True),
        ("logs/p2.log", True),
    ]
    with factory() as session:
        assert ingest.counted_keys(session, [k for k, _ in sources]) == {k for k, _ in sources}
        each = sa.select(DailyDownloads.project, DailyDownloads.downloads).where(
            DailyDownloads.dimension == "overall", DailyDownloads.project.in_(["p0", "p1", "p2"])
        )
        assert sorted(session.execute(each).all()) == [("p0", 1), ("p1", 1), ("p2", 1)]


@THREADS
def test_a_batch_with_an_object_counted_meanwhile_adds_it_once(clean_database, threads):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)
    reads = []

    def opener(key):
        def open_it():
            reads.append(key)
            if key == "logs/b.log" and reads.count(key) == 1:
                # Another worker counts b while this batch is reading it.
                with factory() as other:
                    assert ingest.count(other, "logs/b.log", _lines()).counted
                    other.commit()
            return contextlib.nullcontext(_lines())

        return open_it

    with factory() as session:
        keys = ["logs/a.log", "logs/b.log", "logs/c.log"]
        outcomes = ingest.count_batch(session, [(k, opener(k)) for k in keys], threads=threads)
        session.commit()
        # Read again without b: a and c once, b by the other worker once.
        assert [(o.key, o.counted) for o in outcomes] == [
            ("logs/a.log", True),
            ("logs/b.log", False),
            ("logs/c.log", True),
        ]
        assert sorted(reads) == sorted(keys + ["logs/a.log", "logs/c.log"])
        assert _overall(session) == [(False, 9), (True, 3)]
        assert session.scalar(sa.select(sa.func.count()).select_from(MalformedLine)) == 3


@THREADS
def test_a_batch_that_dies_before_its_commit_leaves_nothing(clean_database, threads):
    from warehouse.db import make_session_factory

    factory = make_session_factory(clean_database)

    def broken():
        yield from _lines()
        raise OSError("the store went away mid-object")

    with factory() as session:
        sources = _sources("logs/a.log") + [
            ("logs/b.log", lambda: contextlib.nullcontext(broken()))
        ]
        with pytest.raises(OSError):
            ingest.count_batch(session, sources, threads=threads)
        session.rollback()
        assert _overall(session) == []
        assert ingest.counted_keys(session, ["logs/a.log", "logs/b.log"]) == set()
        ingest.count_batch(session, _sources("logs/a.log", "logs/b.log"))
        session.commit()
        assert _overall(session) == [(False, 6), (True, 2)]


def test_rows_are_sorted_in_the_primary_keys_byte_order():
    """The worker sorts a batch as PostgreSQL's "C" collation orders the primary key (bytes,
    so 'Z' before 'a' and 'é' after 'z'), through ranks of the distinct strings."""
    import random

    import pyarrow as pa

    rng = random.Random(5)
    words = ["a", "Z", "é", "z", "ab", "a b", "Ab", "日本", "null", "", "0.1", "0.10", "0.9"]
    rows = [
        (
            rng.choice(words[:6]),
            rng.choice(["version", "overall", "country"]),
            DAY - datetime.timedelta(days=rng.randrange(3)),
            rng.choice(words),
            rng.random() < 0.5,
            n,
        )
        for n in range(2_000)
    ]
    names = ["project", "dimension", "day", "category", "mirror", "downloads"]
    table = pa.table(
        {name: list(column) for name, column in zip(names, zip(*rows, strict=True), strict=True)}
    )
    ordered = ingest.in_key_order(table)

    def key(row):
        project, dimension, day, category, mirror, _ = row
        return project.encode(), dimension.encode(), day, category.encode(), mirror

    expected = sorted(rows, key=key)
    got = list(zip(*(ordered.column(name).to_pylist() for name in names), strict=True))
    assert [key(row) for row in got] == [key(row) for row in expected]
    assert sorted(got, key=lambda row: row[5]) == sorted(rows, key=lambda row: row[5])
