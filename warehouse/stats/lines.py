"""Reading CDN log lines into per-day counts, fast.

The lines are PyPI's Fastly format, the one linehaul reads (see docs/stats.md)::

    download|<timestamp>|<country>|<url path>|<tls protocol>|<tls cipher>|<project>|<version>|<package type>|<user agent>
    simple|<timestamp>|<country>|<url path>|<tls protocol>|<tls cipher>||||<user agent>

Speed comes from doing per line only what must be done per line: one ``split``, a few dict
lookups. The timestamp is parsed once per distinct second, the user agent once per distinct
agent (with linehaul's own parser), the project name normalized once per distinct name; a
line only adds one to a counter keyed by what it shares with other lines. The break-down by
dimension is done once per distinct key at the end (:meth:`Tally.rows`).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from linehaul.ua import parser as ua_parser
from packaging.utils import canonicalize_name

NULL = "(null)"
# The category of a value nobody sent, as pypistats names it.
UNKNOWN = "null"
# Installers that copy the index rather than install from it; counted apart as mirrors.
MIRROR_INSTALLERS = frozenset(
    {"bandersnatch", "devpi", "z3c.pypimirror", "Artifactory", "Nexus", "pep381client"}
)
# Our own upstream sync (warehouse.upstreams) fetches with this agent: a mirror too.
UPSTREAM_SYNC_AGENT_PREFIX = "warehouse-upstream/"
# Crawlers that present themselves as browsers: linehaul counts them as "Browser".
_BOT_WORDS = ("bot", "crawl", "spider", "slurp")
SYSTEMS = frozenset({"Linux", "Windows", "Darwin"})
TIMESTAMP_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"
# Malformed lines kept aside per log object (all are counted).
MAX_KEPT_MALFORMED = 100
_UA_CACHE_LIMIT = 200_000


class Agent(NamedTuple):
    """What the counts need from a user agent."""

    installer: str
    python_major: str
    python_minor: str
    system: str
    mirror: bool


_IGNORED = None
# Agent string -> index of its Agent in _agents (-1: not counted). Lines are keyed by the
# index: thousands of agent strings share a few hundred distinct Agents.
_ua_cache: dict[bytes | str, int] = {}
_agents: list[Agent] = []
_agent_index: dict[Agent, int] = {}


def describe_agent(user_agent: str) -> Agent | None:
    """The agent's installer, Python and system; None for an agent whose downloads are not
    counted (bots and monitors linehaul ignores, crawlers posing as browsers)."""
    if user_agent.startswith(UPSTREAM_SYNC_AGENT_PREFIX):
        return Agent("warehouse-upstream", UNKNOWN, UNKNOWN, UNKNOWN, True)
    try:
        parsed = ua_parser.parse(user_agent)
    except ua_parser.UnknownUserAgentError:
        return Agent(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, False)
    except Exception:  # noqa: BLE001 - linehaul's parsers may trip on odd agents (bad JSON types)
        return Agent(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, False)
    if parsed is None:
        return _IGNORED
    installer = parsed.installer.name if parsed.installer and parsed.installer.name else UNKNOWN
    if installer == "Browser":
        lowered = user_agent.lower()
        if any(word in lowered for word in _BOT_WORDS):
            return _IGNORED
    python = parsed.python or ""
    if not python and parsed.implementation and parsed.implementation.name == "CPython":
        # Poetry and pdm name the interpreter they run on, which is the one they install for.
        python = parsed.implementation.version or ""
    parts = python.split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        major, minor = parts[0], f"{parts[0]}.{parts[1]}"
    elif parts[0].isdigit():
        major, minor = parts[0], UNKNOWN
    else:
        major = minor = UNKNOWN
    system_name = parsed.system.name if parsed.system and parsed.system.name else None
    if system_name is None:
        system = UNKNOWN
    else:
        system = system_name if system_name in SYSTEMS else "other"
    return Agent(installer, major, minor, system, installer in MIRROR_INSTALLERS)


def agent_index(user_agent: bytes | str) -> int:
    """The index of :func:`describe_agent`'s answer in ``_agents`` (-1: not counted),
    remembered per distinct agent as logged (bytes, as the lines are read)."""
    try:
        return _ua_cache[user_agent]
    except KeyError:
        pass
    if len(_ua_cache) >= _UA_CACHE_LIMIT:
        _ua_cache.clear()
    text = user_agent if isinstance(user_agent, str) else _text(user_agent)
    agent = describe_agent(text.rstrip("\r\n"))
    if agent is None:
        index = -1
    else:
        index = _agent_index.get(agent)
        if index is None:
            index = _agent_index[agent] = len(_agents)
            _agents.append(agent)
    _ua_cache[user_agent] = index
    return index


def _text(value: bytes) -> str:
    """A logged value as text: bytes that are not UTF-8 are replaced, never fatal."""
    return value.decode("utf-8", "replace")


def _parse_day(date_part: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(date_part, "%d %b %Y").date()
    except ValueError:
        return None


class Malformed(NamedTuple):
    line_number: int
    reason: str
    line: str


_days: dict[str, datetime.date | None] = {}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _day_of(stamp: str) -> datetime.date | None:
    """The day of ``Fri, 04 Dec 2026 21:55:44 GMT``; None if it is not such a timestamp.

    Called once per distinct second: the date part is parsed once per day, the time only
    checked."""
    if len(stamp) != 29 or stamp[3:5] != ", " or not stamp.endswith(" GMT"):
        return None
    hh, mm, ss = stamp[17:19], stamp[20:22], stamp[23:25]
    if stamp[16] != " " or stamp[19] != ":" or stamp[22] != ":":
        return None
    if not (hh.isdigit() and mm.isdigit() and ss.isdigit()):
        return None
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 60:
        return None
    date_part = stamp[5:16]
    try:
        day = _days[date_part]
    except KeyError:
        day = _days[date_part] = _parse_day(date_part)
    if day is None or _WEEKDAYS[day.weekday()] != stamp[:3]:
        return None
    return day


@dataclasses.dataclass
class Tally:
    """The counts of one log object, built line by line.

    Lines are bytes as read (a ``str`` line is encoded first: tests, small inputs), and the
    keys are the logged bytes: nothing is decoded per line, only once per distinct value
    when the counts are broken down (:class:`Aggregates`)."""

    since: datetime.date | None = None
    lines: int = 0
    downloads: int = 0
    ignored: int = 0
    index_pages: int = 0
    malformed: int = 0
    # Lines of days before ``since`` (a rebuild from that day): read, not counted.
    skipped: int = 0
    kept_malformed: list[Malformed] = dataclasses.field(default_factory=list)
    # (day, project as logged, version, package type, country, agent index) -> downloads
    counts: dict = dataclasses.field(default_factory=dict)
    # Every distinct timestamp seen -> its day (None: not a timestamp).
    stamps: dict[bytes, datetime.date | None] = dataclasses.field(default_factory=dict)

    def _reject(self, line_number: int, reason: str, line: bytes) -> None:
        self.malformed += 1
        if len(self.kept_malformed) < MAX_KEPT_MALFORMED:
            self.kept_malformed.append(Malformed(line_number, reason, _text(line[:2000])))

    def feed(self, lines: Iterable[bytes] | Iterable[str]) -> Tally:
        lines = iter(lines)
        first = next(lines, None)
        if first is None:
            return self
        lines = itertools.chain((first,), lines)
        if isinstance(first, str):
            lines = (line.encode() for line in lines)  # type: ignore[union-attr]
        counts = self.counts
        get = counts.get
        stamps = self.stamps
        agents = _ua_cache
        since = self.since
        reject = self._reject
        number = self.lines
        downloads = ignored = index_pages = skipped = 0
        for line in lines:
            number += 1
            fields = line.split(b"|", 9)
            if len(fields) != 10:
                if line.strip():
                    reject(
                        number, f"expected 10 fields separated by '|', found {len(fields)}", line
                    )
                else:
                    reject(number, "empty line", line)
                continue
            kind, stamp, country, _path, _proto, _cipher, project, version, ptype, agent = fields
            try:
                day = stamps[stamp]
            except KeyError:
                day = stamps[stamp] = _day_of(_text(stamp))
            if day is None:
                reject(number, f"timestamp {_text(stamp)!r} is not like '{TIMESTAMP_FORMAT}'", line)
                continue
            if kind != b"download":
                if kind == b"simple":
                    index_pages += 1
                else:
                    reject(number, f"unknown line type {_text(kind)!r} (download or simple)", line)
                continue
            if not project or project == b"(null)":
                reject(number, "download line without a project", line)
                continue
            if since is not None and day < since:
                skipped += 1
                continue
            try:
                described = agents[agent]
            except KeyError:
                described = agent_index(agent)
            if described < 0:
                ignored += 1
                continue
            key = (day, project, version, ptype, country, described)
            counts[key] = get(key, 0) + 1
            downloads += 1
        self.lines = number
        self.downloads += downloads
        self.ignored += ignored
        self.index_pages += index_pages
        self.skipped += skipped
        return self

    def event_range(self) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        ordered = [(day, stamp[17:25], stamp) for stamp, day in self.stamps.items() if day]
        if not ordered:
            return None, None

        def moment(entry) -> datetime.datetime:
            parsed = datetime.datetime.strptime(_text(entry[2]), TIMESTAMP_FORMAT)
            return parsed.replace(tzinfo=datetime.UTC)

        return moment(min(ordered)), moment(max(ordered))

    def rows(self) -> Iterator[tuple[str, str, datetime.date, str, bool, int]]:
        """This object's aggregate rows alone (see :meth:`Aggregates.rows`)."""
        aggregates = Aggregates()
        aggregates.add(self)
        return aggregates.rows()


class Aggregates:
    """The aggregate rows of one or more objects' tallies, merged: what one transaction adds
    to ``stats_daily_downloads``. Rows shared by the objects (a project's day, a version, a
    country) are summed here, so they cost PostgreSQL one upsert however many objects have
    them."""

    def __init__(self) -> None:
        # (project, dimension, day, category, mirror) -> downloads
        self.totals: dict[tuple, int] = {}
        self.days: set[datetime.date] = set()
        self.projects: set[str] = set()
        self._names: dict[bytes, str] = {}
        self._values: dict[bytes, str] = {}
        self._countries: dict[bytes, str] = {}

    def __len__(self) -> int:
        return len(self.totals)

    def add(self, tally: Tally) -> tuple[frozenset[str], frozenset[datetime.date]]:
        """Break ``tally``'s distinct keys down into the 8 dimensions and add them.

        In two steps rather than 8 rows per key: first by (project, day, agent) for the 5
        rows an agent decides (overall, installer, Python major and minor, system) and by
        (project, day, value) for version, country and file type, then each agent's rows are
        added up. Tens of thousands of agent strings share a few hundred described agents, so
        the first step shrinks the work. Each distinct logged value is decoded once.

        Returns the (normalized) projects and the days ``tally`` has downloads of."""
        names, values, countries = self._names, self._values, self._countries
        totals = self.totals
        by_agent: dict[tuple, int] = {}
        agent_get, get = by_agent.get, totals.get
        mirrors = [agent.mirror for agent in _agents]
        for (day, project, version, ptype, country, index), count in tally.counts.items():
            name = names.get(project)
            if name is None:
                name = names[project] = canonicalize_name(_text(project))
            mirror = mirrors[index]
            key = (name, day, index)
            by_agent[key] = agent_get(key, 0) + count
            category = values.get(version)
            if category is None:
                category = values[version] = _known(_text(version))
            key = (name, "version", day, category, mirror)
            totals[key] = get(key, 0) + count
            category = countries.get(country)
            if category is None:
                category = _known(_text(country)).upper()
                category = countries[country] = UNKNOWN if category == "NULL" else category
            key = (name, "country", day, category, mirror)
            totals[key] = get(key, 0) + count
            category = values.get(ptype)
            if category is None:
                category = values[ptype] = _known(_text(ptype))
            key = (name, "file_type", day, category, mirror)
            totals[key] = get(key, 0) + count
        described = [
            (
                agent.mirror,
                (
                    ("overall", ""),
                    ("installer", agent.installer),
                    ("python_major", agent.python_major),
                    ("python_minor", agent.python_minor),
                    ("system", agent.system),
                ),
            )
            for agent in _agents
        ]
        for (name, day, index), count in by_agent.items():
            mirror, categories = described[index]
            for dimension, category in categories:
                key = (name, dimension, day, category, mirror)
                totals[key] = get(key, 0) + count
        projects = frozenset(name for name, _, _ in by_agent)
        days = frozenset(day for _, day, _ in by_agent)
        self.projects |= projects
        self.days |= days
        return projects, days

    def rows(self) -> Iterator[tuple[str, str, datetime.date, str, bool, int]]:
        """``(project, dimension, day, category, mirror, downloads)``, one per distinct key."""
        for (name, dimension, day, category, mirror), count in self.totals.items():
            yield name, dimension, day, category, mirror, count


def _known(value: str) -> str:
    """A logged value, or ``null`` for one nobody sent."""
    return UNKNOWN if not value or value == NULL else value
