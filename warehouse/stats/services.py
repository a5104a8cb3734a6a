"""Reading the daily aggregates (see :mod:`warehouse.stats.models`), cached per day.

Past days' counts do not change once the day is over (a log object arrives minutes after its
lines at most), so a project's series are read in two parts: the days before today, read
once per project, day and kind of series and kept in Redis until midnight; and today, read
live (a few rows of the primary key). A batch that counts lines of a day before today (late
logs around midnight) moves the project's generation on (:func:`forget_past`), and a
rebuild the generation of every project, so what is kept is never stale: a reader that read
the old generation stores under the old key, which nobody reads any more.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable

import sqlalchemy as sa
import structlog
from zope.interface import implementer

from warehouse.stats.interfaces import IStatsService
from warehouse.stats.models import DailyDownloads

log = structlog.get_logger(__name__)

_EPOCH_KEY = "stats:past-epoch"
_GENERATION_KEY = "stats:past-gen:{project}"
_PAST_KEY = "stats:past:{epoch}:{today}:{project}:{generation}"
# Kept until a little after the day's end; generations outlive any key that names them.
_PAST_TTL = 26 * 3600
_GENERATION_TTL = 3 * 86400
# Windows shorter than this many days (the page's default 30) are read live.
LIVE_DAYS = 62


def utc_today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def recent_windows(session, key_column, condition, keys, today=None) -> dict[str, dict]:
    """pypistats' recent figures for each of ``keys`` (values of ``key_column`` among the rows
    ``condition`` selects): downloads today, in the last 7 days and in the last 30, without
    mirrors. Keys without downloads get zeros."""
    today = today or utc_today()
    t = DailyDownloads
    zero = sa.literal(0, sa.BigInteger)
    rows = session.execute(
        sa.select(
            key_column,
            sa.func.coalesce(sa.func.sum(t.downloads).filter(t.day >= today), zero),
            sa.func.coalesce(
                sa.func.sum(t.downloads).filter(t.day >= today - datetime.timedelta(days=6)),
                zero,
            ),
            sa.func.coalesce(sa.func.sum(t.downloads), zero),
        )
        .where(
            key_column.in_(list(keys)),
            condition,
            t.mirror.is_(False),
            t.day >= today - datetime.timedelta(days=29),
            t.day <= today,
        )
        .group_by(key_column)
    ).all()
    found = {
        key: {"last_day": int(d), "last_week": int(w), "last_month": int(m)}
        for key, d, w, m in rows
    }
    return {key: found.get(key, {"last_day": 0, "last_week": 0, "last_month": 0}) for key in keys}


@implementer(IStatsService)
class DatabaseStatsService:
    def __init__(self, session, redis=None):
        self.session = session
        self.redis = redis

    # -- recent ---------------------------------------------------------------------------

    def recent_many(self, projects, today=None) -> dict:
        t = DailyDownloads
        return recent_windows(self.session, t.project, t.dimension == "overall", projects, today)

    def recent(self, project, today=None) -> dict:
        if self.redis is None or today is not None:
            return self.recent_many([project], today)[project]
        today = utc_today()
        week, month = today - datetime.timedelta(days=6), today - datetime.timedelta(days=29)
        last_day = last_week = last_month = 0
        for day, _, without in self.overall(project, since=month):
            last_month += without
            if day >= week:
                last_week += without
            if day == today:
                last_day += without
        return {"last_day": last_day, "last_week": last_week, "last_month": last_month}

    # -- series ---------------------------------------------------------------------------

    def series(self, project, dimension, *, mirrors, since=None) -> list:
        def query(since, until):
            t = DailyDownloads
            select = sa.select(t.day, t.category, sa.func.sum(t.downloads)).where(
                t.project == project, t.dimension == dimension
            )
            if not mirrors:
                select = select.where(t.mirror.is_(False))
            if since is not None:
                select = select.where(t.day >= since)
            if until is not None:
                select = select.where(t.day < until)
            select = select.group_by(t.category, t.day)
            return [(day, category, int(n)) for day, category, n in self.session.execute(select)]

        rows = self._cached(project, f"series:{dimension}:{int(bool(mirrors))}", query, since)
        rows.sort(key=lambda row: (row[1], row[0]))
        return rows

    def overall(self, project, *, since=None) -> list:
        def query(since, until):
            t = DailyDownloads
            select = sa.select(
                t.day,
                sa.func.sum(t.downloads),
                sa.func.coalesce(sa.func.sum(t.downloads).filter(t.mirror.is_(False)), 0),
            ).where(t.project == project, t.dimension == "overall")
            if since is not None:
                select = select.where(t.day >= since)
            if until is not None:
                select = select.where(t.day < until)
            select = select.group_by(t.day)
            return [(day, int(w), int(wo)) for day, w, wo in self.session.execute(select)]

        rows = self._cached(project, "overall", query, since)
        rows.sort()
        return rows

    def _cached(self, project: str, what: str, query: Callable, since) -> list:
        """``query(since, until)``'s rows from ``since`` on: the days before today from Redis
        (read from the database on the day's first request), today's from the database."""
        if self.redis is None:
            return query(since, None)
        today = utc_today()
        if since is not None and (today - since).days < LIVE_DAYS:
            # A short window is a short range scan: cheaper than decoding a whole history.
            return query(since, None)
        return self._past(project, what, query, today, since) + query(today, None)

    def _past(self, project: str, what: str, query: Callable, today: datetime.date, since) -> list:
        try:
            epoch, generation = self.redis.mget(_EPOCH_KEY, _GENERATION_KEY.format(project=project))
            key = _PAST_KEY.format(
                epoch=int(epoch or 0),
                today=today.isoformat(),
                project=project,
                generation=int(generation or 0),
            )
            kept = self.redis.hget(key, what)
        except Exception:  # noqa: BLE001 - Redis down costs speed, never the answer
            log.warning("stats cache unavailable", exc_info=True)
            return query(since, today)
        if kept is not None:
            first = since.toordinal() if since is not None else 0
            days: dict[int, datetime.date] = {}
            rows = []
            for row in json.loads(kept):
                if row[0] >= first:
                    day = days.get(row[0])
                    if day is None:
                        day = days[row[0]] = datetime.date.fromordinal(row[0])
                    rows.append((day, *row[1:]))
            return rows
        rows = query(None, today)
        encoded = json.dumps([(row[0].toordinal(), *row[1:]) for row in rows])
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, what, encoded)
                pipe.expire(key, _PAST_TTL)
                pipe.execute()
        except Exception:  # noqa: BLE001
            log.warning("stats cache unavailable", exc_info=True)
        return rows if since is None else [row for row in rows if row[0] >= since]


# Whole answers (API bodies, rendered pages) per project, until its next counts land.
_ANSWERS_VERSION_KEY = "stats:answers-version:{project}"
# How long an answer is kept at most: a bound on staleness should a version bump be lost (a
# worker killed between its commit and the bump); new counts normally replace it sooner.
ANSWER_TTL = 3600
# One round trip: the versions, the answer's key made of them, and the answer if kept.
_READ_ANSWER = """
local epoch = redis.call('GET', KEYS[1]) or '0'
local version = redis.call('GET', KEYS[2]) or '0'
local key = 'stats:answer:' .. epoch .. ':' .. version .. ':' .. ARGV[1]
return {key, redis.call('GET', key)}
"""


class Answers:
    """Whole statistics answers kept in Redis per project, valid until the project's next
    counts (:func:`forget_answers`, after each batch commits), a rebuild, or the next UTC day.

    An answer is stored under the versions read *before* its rows were read, so an answer
    read from rows older than a commit is stored under a version nobody asks for after it.
    Redis down costs speed, never the answer."""

    def __init__(self, redis):
        self.redis = redis
        self._script = redis.register_script(_READ_ANSWER)

    def get(self, project: str, variant: str) -> tuple[bytes | None, str | None]:
        """The kept answer (None if not kept) and the key to keep a new one under."""
        today = utc_today().isoformat()
        try:
            key, body = self._script(
                keys=[_EPOCH_KEY, _ANSWERS_VERSION_KEY.format(project=project)],
                args=[f"{today}:{project}:{variant}"],
            )
        except Exception:  # noqa: BLE001
            log.warning("stats answers unavailable", exc_info=True)
            return None, None
        return body, key.decode() if isinstance(key, bytes) else key

    def put(self, key: str | None, body: bytes) -> None:
        if key is None:
            return
        try:
            self.redis.set(key, body, ex=ANSWER_TTL)
        except Exception:  # noqa: BLE001
            log.warning("stats answers unavailable", exc_info=True)


def answers_for(request) -> Answers | None:
    """The application's :class:`Answers` (None without Redis)."""
    registry = request.registry
    answers = registry.get("stats.answers")
    if answers is None:
        redis = registry.get("redis.client")
        if redis is None:
            return None
        answers = registry["stats.answers"] = Answers(redis)
    return answers


def forget_answers(redis, projects: Iterable[str]) -> None:
    """The kept answers of ``projects`` are not read again (new counts, a changed project)."""
    if redis is not None:
        _bump(redis, _ANSWERS_VERSION_KEY, projects)


def forget_past(redis, projects: Iterable[str], days: Iterable[datetime.date]) -> None:
    """After counts of ``days`` committed for ``projects``: if any day is before today,
    what was kept of those projects' past is not read again."""
    days = list(days)
    if redis is None or not days or min(days) >= utc_today():
        return
    _bump(redis, _GENERATION_KEY, projects)


def _bump(redis, key_format: str, projects: Iterable[str]) -> None:
    """Move each project's counter at ``key_format`` on: what was kept under the old value is
    not read again."""
    with redis.pipeline(transaction=False) as pipe:
        for project in projects:
            key = key_format.format(project=project)
            pipe.incr(key)
            pipe.expire(key, _GENERATION_TTL)
        pipe.execute()


def forget_all_past(redis) -> None:
    """After a rebuild: nothing kept of any project's past (nor any kept answer) is read
    again."""
    if redis is not None:
        redis.incr(_EPOCH_KEY)


def stats_service_factory(context, request) -> DatabaseStatsService:
    return DatabaseStatsService(request.db, request.registry.get("redis.client"))
