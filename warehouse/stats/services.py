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
import functools
import itertools
import json
import operator
from collections.abc import Callable, Iterable
from typing import NamedTuple

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import aggregate_order_by
from zope.interface import implementer

from warehouse.db import driver_connection
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
        return recent_of(self.overall(project, since=today - datetime.timedelta(days=29)), today)

    # -- series ---------------------------------------------------------------------------

    def series(self, project, dimension, *, mirrors, since=None) -> list:
        return self.series_many(project, [dimension], mirrors=mirrors, since=since)[dimension]

    def series_many(self, project, dimensions, *, mirrors, since=None) -> dict[str, list]:
        """:meth:`series` of each of ``dimensions``, read with one query (the page's six)."""

        def query(wanted, since, until) -> dict[str, list]:
            statement = _series_statement(bool(mirrors), since is not None, until is not None)
            parameters = {"project": project, "wanted": wanted, "since": since, "until": until}
            found: dict[str, list] = {dimension: [] for dimension in wanted}
            rows = self._tuples(statement, parameters)
            for dimension, of_dimension in itertools.groupby(rows, operator.itemgetter(0)):
                found[dimension] = [row[1:] for row in of_dimension]
            return found

        what = {f"series:{dimension}:{int(bool(mirrors))}": dimension for dimension in dimensions}
        kept = self._cached(project, what, query, since)
        for rows in kept.values():
            # Read by day, the past and then today: a stable sort by category gives the
            # rows by category then day, in a fraction of a sort by both.
            rows.sort(key=operator.itemgetter(1))
        return kept

    def overall(self, project, *, since=None) -> list:
        def query(wanted, since, until) -> dict[str, list]:
            t = DailyDownloads
            select = sa.select(
                t.day,
                _total(t.downloads),
                sa.func.coalesce(_total(t.downloads, t.mirror.is_(False)), 0),
            ).where(t.project == project, t.dimension == "overall")
            select = select.where(*_days(since, until)).group_by(t.day).order_by(t.day)
            return {"overall": [tuple(row) for row in self._rows(select)]}

        # Oldest first: the past (kept in order), then today.
        return self._cached(project, {"overall": "overall"}, query, since)["overall"]

    # -- the API's answers, as text --------------------------------------------------------

    def answer_items(self, project, dimension, *, mirrors) -> dict[str, str]:
        """The data items of pypistats' answer for ``dimension`` (or ``"overall"``), by
        category: each category's items as JSON text, oldest day first, joined by commas.

        A year of a big project's versions is thousands of items: PostgreSQL writes each
        item's day and count, and the past days' text is kept in Redis for the day, so the
        first question after new counts formats only today's rows."""

        def query(wanted, since, until) -> dict[str, dict[str, str]]:
            return {dimension: self._item_texts(project, dimension, mirrors, since, until)}

        if self.redis is None:
            return self._item_texts(project, dimension, mirrors, None, None)
        today = utc_today()
        field = f"items:{dimension}:{int(bool(mirrors))}"
        past = self._past(project, {field: dimension}, query, today, None, _TEXTS)[dimension]
        now = self._item_texts(project, dimension, mirrors, today, None)
        return {
            category: ",".join(filter(None, (past.get(category), now.get(category))))
            for category in sorted(past.keys() | now.keys())
        }

    def _item_texts(self, project, dimension, mirrors, since, until) -> dict[str, str]:
        texts = {}
        shape = "overall" if dimension == "overall" else "mirrors" if mirrors else "plain"
        statement = _items_statement(shape, since is not None, until is not None)
        parameters = {"project": project, "dimension": dimension, "since": since, "until": until}
        for category, pieces in self._rows(statement, parameters):
            if pieces is not None:
                head = item_head(category)
                texts[category] = head + pieces.replace(_SEPARATOR, "}," + head) + "}"
        return texts

    def _tuples(self, statement: str, parameters: dict) -> list[tuple]:
        """The rows of a driver-level ``statement`` as psycopg's plain tuples: SQLAlchemy's
        row objects cost more than PostgreSQL's answer for a big project's whole history
        (30,000 rows for the page's six series)."""
        with driver_connection(self.session).cursor() as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall()

    def _rows(self, select, parameters=None):
        # Core rows: the ORM's result processing costs more than the query for a year of rows.
        return self.session.connection().execute(select, parameters).all()

    def _cached(self, project: str, what: dict[str, str], query: Callable, since) -> dict:
        """``query(names, since, until)``'s rows from ``since`` on, by name (the values of
        ``what``, its keys their names in Redis): the days before today from Redis (read
        from the database on the day's first request), today's from the database."""
        names = list(what.values())
        if self.redis is None:
            return query(names, since, None)
        today = utc_today()
        if since is not None and (today - since).days < LIVE_DAYS:
            # A short window is a short range scan: cheaper than decoding a whole history.
            return query(names, since, None)
        found = self._past(project, what, query, today, since)
        for name, rows in query(names, today, None).items():
            found[name] += rows
        return found

    def _past(
        self, project: str, what: dict, query: Callable, today: datetime.date, since, codec=None
    ):
        """The rows before ``today`` (from ``since`` on) of each name of ``what``, from Redis
        where kept, else read (one query for all the missing names) and kept; rows of days
        unless another ``codec`` says how they are kept."""
        codec = codec or _ROWS
        try:
            epoch, generation = self.redis.mget(_EPOCH_KEY, _GENERATION_KEY.format(project=project))
            key = _PAST_KEY.format(
                epoch=int(epoch or 0),
                today=today.isoformat(),
                project=project,
                generation=int(generation or 0),
            )
            kept = dict(zip(what, self.redis.hmget(key, list(what)), strict=True))
        except Exception:  # noqa: BLE001 - Redis down costs speed, never the answer
            log.warning("stats cache unavailable", exc_info=True)
            return query(list(what.values()), since, today)
        found = {}
        for field, encoded in kept.items():
            if encoded is not None:
                found[what[field]] = codec.decode(encoded, since)
        missing = {field: what[field] for field, encoded in kept.items() if encoded is None}
        if not missing:
            return found
        read = query(list(missing.values()), None, today)
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for field, name in missing.items():
                    pipe.hset(key, field, codec.encode(read[name]))
                pipe.expire(key, _PAST_TTL)
                pipe.execute()
        except Exception:  # noqa: BLE001
            log.warning("stats cache unavailable", exc_info=True)
        for name, value in read.items():
            found[name] = codec.since(value, since)
        return found


def recent_of(overall: Iterable[tuple], today: datetime.date) -> dict:
    """pypistats' recent figures from :meth:`DatabaseStatsService.overall`'s rows (which
    must cover today and the 29 days before)."""
    week, month = today - datetime.timedelta(days=6), today - datetime.timedelta(days=29)
    last_day = last_week = last_month = 0
    for day, _, without in overall:
        if day >= month:
            last_month += without
            if day >= week:
                last_week += without
            if day == today:
                last_day += without
    return {"last_day": last_day, "last_week": last_week, "last_month": last_month}


def _total(column, where=None):
    """``sum(column)`` (of the rows ``where`` selects) as bigint: PostgreSQL's sum of bigints
    is numeric, which psycopg returns as Decimal, slow to make by the thousand."""
    total = sa.func.sum(column)
    return sa.cast(total if where is None else total.filter(where), sa.BigInteger)


@functools.cache
def _items_statement(shape: str, since: bool, until: bool):
    """The query of :meth:`DatabaseStatsService.answer_items`' ``(category, pieces)``: each
    category's days and counts as text (see :func:`_pieces`), for ``shape`` ``"overall"``
    (the two categories with and without mirrors), ``"mirrors"`` (a dimension's categories,
    mirrors included) or ``"plain"`` (without them), between the parameters ``since`` and
    ``until`` where those are given. Built once per shape: building it cost more CPU than
    PostgreSQL's answer for a day's rows."""
    t = DailyDownloads
    where = [t.project == sa.bindparam("project"), t.dimension == sa.bindparam("dimension")]
    where += [t.day >= sa.bindparam("since", type_=sa.Date)] if since else []
    where += [t.day < sa.bindparam("until", type_=sa.Date)] if until else []
    if shape == "overall":
        daily = (
            sa.select(
                t.day,
                _total(t.downloads).label("with_mirrors"),
                sa.func.coalesce(_total(t.downloads, t.mirror.is_(False)), 0).label(
                    "without_mirrors"
                ),
            )
            .where(*where)
            .group_by(t.day)
            .cte()  # read once for both categories
        )
        return sa.union_all(
            *(
                sa.select(sa.literal(name), _pieces(daily.c.day, daily.c[name]))
                for name in ("with_mirrors", "without_mirrors")
            )
        )
    if shape == "plain":
        # One row a category and day without mirrors: nothing to add up first.
        return (
            sa.select(t.category, _pieces(t.day, t.downloads))
            .where(*where, t.mirror.is_(False))
            .group_by(t.category)
        )
    daily = (
        sa.select(t.category, t.day, _total(t.downloads).label("n"))
        .where(*where)
        .group_by(t.category, t.day)
        .subquery()
    )
    return sa.select(daily.c.category, _pieces(daily.c.day, daily.c.n)).group_by(daily.c.category)


@functools.cache
def _series_statement(mirrors: bool, since: bool, until: bool) -> str:
    """The query of :meth:`DatabaseStatsService.series_many`: ``(dimension, day, category,
    downloads)`` of the dimensions ``%(wanted)s`` in the primary key's order (by dimension,
    then day: the caller groups them by dimension), between ``%(since)s`` and ``%(until)s``
    where given."""
    days = (" AND day >= %(since)s" if since else "") + (" AND day < %(until)s" if until else "")
    where = f"project = %(project)s AND dimension = ANY(%(wanted)s){days}"
    if mirrors:
        return (
            "SELECT dimension, day, category, sum(downloads)::bigint "
            f"FROM stats_daily_downloads WHERE {where} "
            "GROUP BY dimension, day, category ORDER BY dimension, day, category"
        )
    # One row a category and day without mirrors: nothing to add up.
    return (
        "SELECT dimension, day, category, downloads FROM stats_daily_downloads "
        f"WHERE {where} AND NOT mirror ORDER BY dimension, day, category"
    )


def _days(since, until) -> list:
    """The conditions on day of ``[since, until)`` (either end may be open)."""
    t = DailyDownloads
    return [
        *([t.day >= since] if since is not None else []),
        *([t.day < until] if until is not None else []),
    ]


class _Codec(NamedTuple):
    """How a kind of past is kept in Redis: ``encode(value)``, ``decode(text, since)``, and
    ``since(value, since)`` for a value just read (the days from ``since`` on)."""

    encode: Callable
    decode: Callable
    since: Callable


def _decoded_rows(text: str, since: datetime.date | None) -> list:
    """Rows kept as ``[ordinal, ...]`` as ``(date, ...)`` tuples, from ``since`` on."""
    kept = json.loads(text)
    first = since.toordinal() if since is not None else 0
    days = {ordinal: datetime.date.fromordinal(ordinal) for ordinal in {r[0] for r in kept}}
    return [(days[row[0]], *row[1:]) for row in kept if row[0] >= first]


# Rows of days, in the query's order (which readers keep).
_ROWS = _Codec(
    encode=lambda rows: json.dumps([(row[0].toordinal(), *row[1:]) for row in rows]),
    decode=_decoded_rows,
    since=lambda rows, since: rows if since is None else [r for r in rows if r[0] >= since],
)
# The API's item texts by category (always whole: the API has no window).
_TEXTS = _Codec(
    encode=json.dumps, decode=lambda text, since: json.loads(text), since=lambda v, since: v
)
# Between two days' pieces of a category's items in PostgreSQL's text: a byte no item holds.
_SEPARATOR = "\x01"


def item_head(category: str) -> str:
    """The start of a pypistats data item of ``category``, up to its date's value."""
    return '{"category":' + json.dumps(category) + ',"date":"'


def _pieces(day, downloads):
    """``<day>","downloads":<n>`` for each day, oldest first, joined by ``_SEPARATOR``."""
    return sa.func.string_agg(
        sa.func.concat(sa.func.to_char(day, "YYYY-MM-DD"), '","downloads":', downloads),
        aggregate_order_by(sa.literal(_SEPARATOR), day),
    )


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
