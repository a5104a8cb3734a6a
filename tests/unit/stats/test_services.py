"""Reading the aggregates through the per-day cache: the same answers as the database, today
live, late counts of past days never served stale."""

import datetime

import pytest

from tests.unit.stats import agents
from tests.unit.stats.agents import download_line
from warehouse.stats import ingest, services
from warehouse.stats.services import DatabaseStatsService, forget_all_past, forget_past

TODAY = datetime.date(2026, 12, 4)


def _stamp(day: datetime.date) -> str:
    return datetime.datetime.combine(day, datetime.time(12)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _count(session, key, day, n=1, agent=agents.PIP):
    ingest.count(session, key, [download_line(agent, stamp=_stamp(day))] * n)
    session.commit()


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(services, "utc_today", lambda: TODAY)
    return TODAY


def test_cached_answers_are_the_database_answers_and_today_is_live(db_session, redis_client, today):
    yesterday = today - datetime.timedelta(days=1)
    _count(db_session, "logs/1.log", yesterday, 2)
    _count(db_session, "logs/2.log", today, 1)
    _count(db_session, "logs/3.log", today, 1, agents.BANDERSNATCH)
    cached = DatabaseStatsService(db_session, redis_client)
    plain = DatabaseStatsService(db_session)
    for _ in range(2):  # the first reads and keeps the past, the second reads it from Redis
        assert cached.overall("sampleproject") == plain.overall("sampleproject")
        assert cached.overall("sampleproject") == [(yesterday, 2, 2), (today, 2, 1)]
        for mirrors in (False, True):
            assert cached.series("sampleproject", "installer", mirrors=mirrors) == plain.series(
                "sampleproject", "installer", mirrors=mirrors
            )
        assert cached.recent("sampleproject") == plain.recent("sampleproject", today=today)
        assert cached.overall("sampleproject", since=today) == [(today, 2, 1)]
    assert any(key.startswith(b"stats:past:") for key in redis_client.keys())
    # Today's next counts show at once: today is never kept.
    _count(db_session, "logs/4.log", today, 5)
    assert cached.overall("sampleproject")[-1] == (today, 7, 6)
    assert cached.recent("sampleproject") == {"last_day": 6, "last_week": 8, "last_month": 8}


def test_dimensions_read_together_are_each_read_alone(db_session, redis_client, today):
    yesterday = today - datetime.timedelta(days=1)
    for number, (day, agent) in enumerate(
        [(yesterday, agents.PIP), (yesterday, agents.UV), (today, agents.UV), (today, agents.PIP)]
    ):
        _count(db_session, f"logs/{number}.log", day, number + 1, agent)
    cached = DatabaseStatsService(db_session, redis_client)
    plain = DatabaseStatsService(db_session)
    dimensions = ["installer", "version", "python_minor"]
    # The installer's past is kept first: the others are then read for the one missing.
    cached.series("sampleproject", "installer", mirrors=False)
    for service in (cached, plain, cached):
        together = service.series_many("sampleproject", dimensions, mirrors=False)
        assert list(together) == dimensions
        for dimension in dimensions:
            alone = plain.series("sampleproject", dimension, mirrors=False)
            assert together[dimension] == alone
            assert alone == sorted(alone, key=lambda row: (row[1], row[0]))
    installer = {row[1] for row in plain.series("sampleproject", "installer", mirrors=False)}
    assert len(installer) == 2


def test_late_counts_of_a_past_day_are_not_served_stale(db_session, redis_client, today):
    yesterday = today - datetime.timedelta(days=1)
    _count(db_session, "logs/1.log", yesterday, 2)
    cached = DatabaseStatsService(db_session, redis_client)
    assert cached.overall("sampleproject") == [(yesterday, 2, 2)]
    # A late object with more of yesterday: kept answers are stale until told.
    _count(db_session, "logs/late.log", yesterday, 3)
    assert cached.overall("sampleproject") == [(yesterday, 2, 2)]
    forget_past(redis_client, {"sampleproject"}, {yesterday})
    assert cached.overall("sampleproject") == [(yesterday, 5, 5)]
    # Counts of today alone move nothing; a rebuild forgets every project's past.
    forget_past(redis_client, {"sampleproject"}, {today})
    assert redis_client.get("stats:past-gen:sampleproject") == b"1"
    _count(db_session, "logs/rebuilt.log", yesterday, 1)
    forget_all_past(redis_client)
    assert cached.overall("sampleproject") == [(yesterday, 6, 6)]


def test_the_counting_task_forgets_late_days_of_its_projects(db_session, redis_client, today):
    from types import SimpleNamespace

    from warehouse.stats.tasks import forget_counted

    yesterday = today - datetime.timedelta(days=1)
    _count(db_session, "logs/1.log", yesterday, 2)
    cached = DatabaseStatsService(db_session, redis_client)
    assert cached.overall("sampleproject") == [(yesterday, 2, 2)]
    late = ingest.count(
        db_session, "logs/late.log", [download_line(agents.PIP, stamp=_stamp(yesterday))]
    )
    db_session.commit()
    assert late.days == {yesterday} and late.projects == {"sampleproject"}
    ctx = SimpleNamespace(redis=redis_client, settings=SimpleNamespace(cdn_backend="none"))
    forget_counted(ctx, [late])
    assert cached.overall("sampleproject") == [(yesterday, 3, 3)]


def test_without_redis_answers_still_come(db_session, today):
    import redis

    _count(db_session, "logs/1.log", today - datetime.timedelta(days=1), 2)
    broken = redis.Redis(port=1, socket_connect_timeout=0.2)
    assert DatabaseStatsService(db_session, broken).overall("sampleproject")[0][1:] == (2, 2)
