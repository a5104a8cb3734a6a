"""Reading CDN log lines into per-day counts, fast.

The lines are PyPI's Fastly format, the one linehaul reads (see docs/statistics.md)::

    download|<timestamp>|<country>|<url path>|<tls protocol>|<tls cipher>|<project>|<version>|<package type>|<user agent>
    simple|<timestamp>|<country>|<url path>|<tls protocol>|<tls cipher>||||<user agent>

Speed comes from doing per line only what must be done per line: one ``split``, a few dict
lookups. The timestamp is parsed once per distinct second, the user agent once per distinct
agent (with linehaul's own parser), the project name normalized once per distinct name; a
line only adds one to a counter keyed by what it shares with other lines. The break-down by
dimension is done once per distinct key at the end (:meth:`Tally.rows`).

Blocks of whole lines (what :func:`warehouse.stats.ingest.object_lines` reads, ~10 MB at a
time) are split into columns and counted by Arrow's CSV reader and group-by, in C++: the
same rules as the line-by-line loop (:meth:`Tally.feed_each`), which stays the reference and
takes the lines Arrow cannot vouch for (a bar in a user agent, too few fields, empty lines,
carriage returns, bytes that are not UTF-8). The break-down into dimensions is Arrow's too.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from linehaul.ua import parser as ua_parser
from packaging.utils import canonicalize_name
from pyarrow import csv as pa_csv

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
# Taken to add an agent: objects are read in threads, and two that meet a new agent at once
# must give it one index. Reentrant: the Arrow lookup adds through agent_index.
_agents_lock = threading.RLock()


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
    with _agents_lock:
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


# The agent strings met by Arrow's counting, and their agent_index(), as Arrow arrays: a
# block's distinct agents are looked up among them in C++, only new ones in Python.
_arrow_agents: list = [pa.array([], pa.binary()), pa.array([], pa.int32())]
# Each block's lookup hashes the whole set: kept smaller than the text cache.
_ARROW_AGENTS_LIMIT = 50_000


def _agent_indexes(strings):
    """``agent_index`` of each of the distinct agent ``strings`` (an Arrow array)."""
    known, indexes = _arrow_agents
    found = pc.index_in(strings, value_set=known)
    if not found.null_count:
        return pc.take(indexes, found)
    with _agents_lock:  # objects are read in threads (ingest.count_batch): one adds at a time
        known, indexes = _arrow_agents
        found = pc.index_in(strings, value_set=known)
        new = strings.filter(pc.is_null(found))
        if len(known) + len(new) > _ARROW_AGENTS_LIMIT:
            # Start again from this block's agents (all of them, so none is left unknown).
            new = strings
            known, indexes = pa.array([], pa.binary()), pa.array([], pa.int32())
        known = pa.concat_arrays([known, new])
        indexes = pa.concat_arrays(
            [indexes, pa.array([agent_index(agent) for agent in new.to_pylist()], pa.int32())]
        )
        _arrow_agents[:] = [known, indexes]
    return pc.take(indexes, pc.index_in(strings, value_set=known))


# Why a line is not counted, the same words whether Arrow or the loop found it.
NO_PROJECT = "download line without a project"


def _bad_timestamp(stamp: bytes) -> str:
    return f"timestamp {_text(stamp)!r} is not like '{TIMESTAMP_FORMAT}'"


def _unknown_kind(kind: bytes) -> str:
    return f"unknown line type {_text(kind)!r} (download or simple)"


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


# The fields of a line, in order; Arrow's column names.
FIELDS = (
    "kind",
    "stamp",
    "country",
    "path",
    "protocol",
    "cipher",
    "project",
    "version",
    "package_type",
    "agent",
)
# The columns of a tally's distinct keys (and their count) in Arrow tables.
_KEY_COLUMNS = ("day", "project", "version", "package_type", "country", "agent")
_ROW_KEYS = ("project", "dimension", "day", "category", "mirror")
# datetime.date.toordinal() of Arrow's date32 zero (1970-01-01).
_EPOCH_ORDINAL = 719_163
_ARROW_READ = pa_csv.ReadOptions(column_names=FIELDS, use_threads=False, block_size=1 << 26)


def _arrow_convert(columns) -> pa_csv.ConvertOptions:
    return pa_csv.ConvertOptions(
        column_types={name: pa.binary() for name in FIELDS},
        include_columns=list(columns),
        check_utf8=False,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )


# The fields counting needs; the others are read only for a malformed line kept aside.
_ARROW_COUNTED = _arrow_convert(
    ("kind", "stamp", "country", "project", "version", "package_type", "agent")
)
_ARROW_WHOLE = _arrow_convert(FIELDS)


def _read_arrow(block: bytes, convert, invalid_row_handler):
    return pa_csv.read_csv(
        pa.py_buffer(block),
        read_options=_ARROW_READ,
        parse_options=pa_csv.ParseOptions(
            delimiter="|",
            quote_char=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
            invalid_row_handler=invalid_row_handler,
        ),
        convert_options=convert,
    )


def _arrow_can_read(block: bytes) -> bool:
    """Whether Arrow splits ``block`` into lines exactly as ``split(b"\\n")`` does: it also
    ends lines at ``\\r``, so blocks with one are counted line by line (rare: Fastly and
    varnishncsa write none). Empty lines are found after the read (:class:`_LineByLine`)."""
    return bool(block) and block[0] != 10 and block[-1] != 10 and b"\r" not in block


class _LineByLine(Exception):
    """Arrow read a block it cannot count as the loop would: count it line by line."""


def _physical_numbers(indices: list[int], skipped: list[int]) -> list[int]:
    """Line numbers (from 1) of the rows at ``indices`` (ascending) among the rows Arrow kept,
    given the line numbers it ``skipped`` (ascending)."""
    numbers, passed = [], 0
    for index in indices:
        number = index + 1 + passed
        while passed < len(skipped) and skipped[passed] <= number:
            passed += 1
            number = index + 1 + passed
        numbers.append(number)
    return numbers


@dataclasses.dataclass
class Tally:
    """The counts of one log object.

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
    # Lines counted one by one: (day, project as logged, version, package type, country,
    # agent index) -> downloads
    counts: dict = dataclasses.field(default_factory=dict)
    # Blocks counted by Arrow: tables of _KEY_COLUMNS (day as an ordinal) and "downloads".
    tables: list = dataclasses.field(default_factory=list)
    # Every distinct timestamp seen -> its day (None: not a timestamp).
    stamps: dict[bytes, datetime.date | None] = dataclasses.field(default_factory=dict)

    def _reject(self, line_number: int, reason: str, line: bytes) -> None:
        self.malformed += 1
        if len(self.kept_malformed) < MAX_KEPT_MALFORMED:
            self.kept_malformed.append(Malformed(line_number, reason, _text(line[:2000])))

    def feed(self, lines: Iterable[bytes] | Iterable[str]) -> Tally:
        """Count ``lines``: blocks of lines when ``lines`` can give them (``blocks()``, as
        :func:`warehouse.stats.ingest.object_lines` does), else the lines themselves."""
        blocks = getattr(lines, "blocks", None)
        if blocks is not None:
            return self.feed_blocks(blocks())
        lines = [line.encode() if isinstance(line, str) else line for line in lines]
        if any(b"\n" in line or b"\r" in line for line in lines):
            return self.feed_each(lines)
        return self.feed_blocks([b"\n".join(lines)] if lines else [])

    def feed_blocks(self, blocks: Iterable[bytes]) -> Tally:
        """Count blocks of whole lines (``b"\\n"`` between lines, none after the last)."""
        for block in blocks:
            if _arrow_can_read(block):
                try:
                    self._feed_arrow(block)
                    continue
                except (pa.ArrowException, UnicodeDecodeError, _LineByLine):
                    # A line Arrow could not hand back as text, or an empty line (which it
                    # reads as ten empty fields): nothing was counted; count line by line.
                    pass
            self.feed_each(block.split(b"\n"))
        return self

    def _feed_arrow(self, block: bytes) -> None:
        odd: list[tuple[int, str]] = []

        def keep_aside(row) -> str:
            odd.append((row.number, row.text))
            return "skip"

        table = _read_arrow(block, _ARROW_COUNTED, keep_aside)
        if table.num_rows:
            # An empty line reads as empty fields: only "|||||||||" reads the same.
            blank = None
            for name in table.column_names:
                empty = pc.equal(pc.binary_length(table.column(name)), 0)
                blank = empty if blank is None else pc.and_(blank, empty)
            if pc.any(blank).as_py():
                raise _LineByLine()
        # Nothing of the block is counted before here: a failed read leaves the tally whole.
        first = self.lines
        # Every line is a row or an odd one (no \r, no empty line: see above).
        self.lines += table.num_rows + len(odd)
        kept_before = len(self.kept_malformed)
        if odd:
            # Too few fields, or a bar inside the user agent: the loop's rules decide.
            self._feed_numbered((first + number, text.encode()) for number, text in odd)
        if table.num_rows:
            self._count_table(table, block, first, sorted(number for number, _ in odd))
        if len(self.kept_malformed) > kept_before:
            self.kept_malformed.sort(key=lambda kept: kept.line_number)
            del self.kept_malformed[MAX_KEPT_MALFORMED:]

    def _count_table(self, table, block: bytes, first: int, skipped: list[int]) -> None:
        stamps = self.stamps
        encoded = pc.dictionary_encode(table.column("stamp").combine_chunks())
        ordinals = []
        for stamp in encoded.dictionary.to_pylist():
            try:
                day = stamps[stamp]
            except KeyError:
                day = stamps[stamp] = _day_of(_text(stamp))
            ordinals.append(day.toordinal() if day is not None else -1)
        day = pc.take(pa.array(ordinals, pa.int32()), encoded.indices)
        kind = table.column("kind")
        project = table.column("project")
        dated = pc.greater_equal(day, 0)
        is_download = pc.equal(kind, pa.scalar(b"download", pa.binary()))
        is_simple = pc.equal(kind, pa.scalar(b"simple", pa.binary()))
        self.index_pages += pc.sum(pc.and_(dated, is_simple)).as_py() or 0
        named = pc.invert(pc.is_in(project, value_set=pa.array([b"", NULL.encode()], pa.binary())))
        download = pc.and_(pc.and_(dated, is_download), named)
        malformed = pc.invert(pc.or_(download, pc.and_(dated, is_simple)))
        bad = pc.sum(malformed).as_py() or 0
        if bad:
            self._reject_rows(block, malformed, day, is_download, first, skipped, bad)
        if self.since is not None:
            early = pc.and_(download, pc.less(day, self.since.toordinal()))
            self.skipped += pc.sum(early).as_py() or 0
            download = pc.and_(download, pc.invert(early))
        downloads = pa.table(
            {
                "day": day,
                "project": project,
                "version": table.column("version"),
                "package_type": table.column("package_type"),
                "country": table.column("country"),
                "agent": table.column("agent"),
            }
        ).filter(download)
        if not downloads.num_rows:
            return
        agents = pc.dictionary_encode(downloads.column("agent").combine_chunks())
        agent = pc.take(_agent_indexes(agents.dictionary), agents.indices)
        described = pc.greater_equal(agent, 0)
        counted = pc.sum(described).as_py() or 0
        self.ignored += downloads.num_rows - counted
        self.downloads += counted
        if not counted:
            return
        keys = downloads.set_column(5, "agent", agent).filter(described)
        grouped = keys.group_by(list(_KEY_COLUMNS), use_threads=False).aggregate(
            [([], "count_all")]
        )
        self.tables.append(grouped.rename_columns([*_KEY_COLUMNS, "downloads"]))

    def _reject_rows(self, block, malformed, day, is_download, first, skipped, bad) -> None:
        """Count ``bad`` malformed rows and keep the first few with the loop's reasons (their
        whole lines read again from ``block``, while the tally keeps fewer than it may)."""
        self.malformed += bad
        if len(self.kept_malformed) >= MAX_KEPT_MALFORMED:
            return
        indices = pc.indices_nonzero(malformed).slice(0, MAX_KEPT_MALFORMED).to_pylist()
        numbers = _physical_numbers(indices, skipped)
        rows = _read_arrow(block, _ARROW_WHOLE, lambda row: "skip").take(indices).to_pylist()
        days = pc.take(day, indices).to_pylist()
        downloads = pc.take(is_download, indices).to_pylist()
        for number, row, ordinal, download in zip(numbers, rows, days, downloads, strict=True):
            line = b"|".join(row[name] for name in FIELDS)
            if ordinal < 0:
                reason = _bad_timestamp(row["stamp"])
            elif not download:
                reason = _unknown_kind(row["kind"])
            else:
                reason = NO_PROJECT
            self.kept_malformed.append(Malformed(first + number, reason, _text(line[:2000])))

    def feed_each(self, lines: Iterable[bytes] | Iterable[str]) -> Tally:
        """Count ``lines`` one by one: the rules, in plain Python (the blocks' reference)."""

        def numbered():
            for line in lines:
                self.lines += 1
                yield self.lines, line.encode() if isinstance(line, str) else line

        self._feed_numbered(numbered())
        return self

    def _feed_numbered(self, lines: Iterable[tuple[int, bytes]]) -> None:
        counts = self.counts
        get = counts.get
        stamps = self.stamps
        agents = _ua_cache
        since = self.since
        reject = self._reject
        downloads = ignored = index_pages = skipped = 0
        for number, line in lines:
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
                reject(number, _bad_timestamp(stamp), line)
                continue
            if kind != b"download":
                if kind == b"simple":
                    index_pages += 1
                else:
                    reject(number, _unknown_kind(kind), line)
                continue
            if not project or project == b"(null)":
                reject(number, NO_PROJECT, line)
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
        self.downloads += downloads
        self.ignored += ignored
        self.index_pages += index_pages
        self.skipped += skipped

    def keys(self):
        """The distinct keys counted so far and their downloads, as one Arrow table."""
        tables = list(self.tables)
        if self.counts:
            columns = list(zip(*self.counts, strict=True))
            tables.append(
                pa.table(
                    {
                        "day": pa.array([day.toordinal() for day in columns[0]], pa.int32()),
                        "project": pa.array(columns[1], pa.binary()),
                        "version": pa.array(columns[2], pa.binary()),
                        "package_type": pa.array(columns[3], pa.binary()),
                        "country": pa.array(columns[4], pa.binary()),
                        "agent": pa.array(columns[5], pa.int32()),
                        "downloads": pa.array(list(self.counts.values()), pa.int64()),
                    }
                )
            )
        if not tables:
            return None
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def forget_keys(self) -> None:
        """Drop the counted keys (broken down into an :class:`Aggregates` already)."""
        self.counts = {}
        self.tables = []

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


def _decoded(values, convert) -> pa.Array:
    """``convert`` applied once per distinct value of the binary column ``values``."""
    encoded = pc.dictionary_encode(values.combine_chunks())
    decoded = [convert(_text(value)) for value in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(decoded, pa.string()), encoded.indices)


def _country(value: str) -> str:
    category = _known(value).upper()
    return UNKNOWN if category == "NULL" else category


def _sum_by(table, keys: list[str]):
    summed = table.group_by(keys, use_threads=False).aggregate([("downloads", "sum")])
    return summed.rename_columns([*keys, "downloads"])


class Aggregates:
    """The aggregate rows of one or more objects' tallies, merged: what one transaction adds
    to ``stats_daily_downloads``. Rows shared by the objects (a project's day, a version, a
    country) are summed here, so they cost PostgreSQL one upsert however many objects have
    them. Held as Arrow tables (about 50 bytes a row), merged when asked for."""

    def __init__(self) -> None:
        self._parts: list = []
        self.days: set[datetime.date] = set()
        self.projects: set[str] = set()

    def upper_bound(self) -> int:
        """At least as many as the merged rows (the rows of every part), without merging."""
        return sum(part.num_rows for part in self._parts)

    def __len__(self) -> int:
        table = self.table()
        return table.num_rows if table is not None else 0

    def add(self, tally: Tally) -> tuple[frozenset[str], frozenset[datetime.date]]:
        """Break ``tally``'s distinct keys down into the 8 dimensions and add them.

        In two steps rather than 8 rows per key: first by (project, day, agent) for the 5
        rows an agent decides (overall, installer, Python major and minor, system) and by
        (project, day, value) for version, country and file type, then each agent's rows are
        added up. Tens of thousands of agent strings share a few hundred described agents, so
        the first step shrinks the work. Each distinct logged value is decoded once.

        Returns the (normalized) projects and the days ``tally`` has downloads of."""
        keys = tally.keys()
        if keys is None or not keys.num_rows:
            return frozenset(), frozenset()
        agent = keys.column("agent")
        mirrors = pa.array([described.mirror for described in _agents], pa.bool_())
        common = {
            "project": _decoded(keys.column("project"), lambda v: canonicalize_name(v)),
            "day": keys.column("day"),
        }
        downloads = keys.column("downloads")
        mirror = pc.take(mirrors, agent)
        parts = []
        for dimension, column, convert in (
            ("version", "version", _known),
            ("country", "country", _country),
            ("file_type", "package_type", _known),
        ):
            by_value = pa.table(
                {
                    **common,
                    "category": _decoded(keys.column(column), convert),
                    "mirror": mirror,
                    "downloads": downloads,
                }
            )
            parts.append((dimension, _sum_by(by_value, ["project", "day", "category", "mirror"])))
        by_agent = _sum_by(
            pa.table({**common, "agent": agent, "downloads": downloads}),
            ["project", "day", "agent"],
        )
        agent = by_agent.column("agent")
        mirror = pc.take(mirrors, agent)
        for dimension, attribute in (
            ("overall", None),
            ("installer", "installer"),
            ("python_major", "python_major"),
            ("python_minor", "python_minor"),
            ("system", "system"),
        ):
            categories = pa.array(
                [getattr(a, attribute) if attribute else "" for a in _agents], pa.string()
            )
            by_category = pa.table(
                {
                    "project": by_agent.column("project"),
                    "day": by_agent.column("day"),
                    "category": pc.take(categories, agent),
                    "mirror": mirror,
                    "downloads": by_agent.column("downloads"),
                }
            )
            parts.append(
                (dimension, _sum_by(by_category, ["project", "day", "category", "mirror"]))
            )
        rows = pa.concat_tables(
            [
                pa.table(
                    {
                        "project": part.column("project"),
                        "dimension": pa.repeat(dimension, part.num_rows),
                        "day": pc.cast(
                            pc.subtract(part.column("day"), _EPOCH_ORDINAL), pa.int32()
                        ).cast(pa.date32()),
                        "category": part.column("category"),
                        "mirror": part.column("mirror"),
                        "downloads": part.column("downloads"),
                    }
                )
                for dimension, part in parts
            ]
        )
        self._parts.append(rows)
        projects = frozenset(pc.unique(by_agent.column("project")).to_pylist())
        days = frozenset(
            datetime.date.fromordinal(day) for day in pc.unique(by_agent.column("day")).to_pylist()
        )
        self.projects |= projects
        self.days |= days
        return projects, days

    def table(self):
        """The merged rows as one Arrow table (None: no rows): ``project, dimension, day,
        category, mirror, downloads``, each key once."""
        if not self._parts:
            return None
        if len(self._parts) > 1:
            self._parts = [_sum_by(pa.concat_tables(self._parts), list(_ROW_KEYS))]
        return self._parts[0]

    def rows(self) -> Iterator[tuple[str, str, datetime.date, str, bool, int]]:
        """``(project, dimension, day, category, mirror, downloads)``, one per distinct key."""
        table = self.table()
        if table is None:
            return iter(())
        return zip(
            *(table.column(name).to_pylist() for name in (*_ROW_KEYS, "downloads")), strict=True
        )


def _known(value: str) -> str:
    """A logged value, or ``null`` for one nobody sent."""
    return UNKNOWN if not value or value == NULL else value
