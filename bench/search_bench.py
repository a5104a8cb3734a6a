"""Search latency at scale: fill a scratch database with synthetic projects, time typical queries.

    DATABASE_URL=postgresql://postgres@127.0.0.1:54320/search_bench \\
        .venv/bin/python bench/search_bench.py --projects 100000

The database is migrated to the newest schema. Projects and releases are loaded with COPY
(no files: search never reads them), then ``rebuild_all`` fills ``project_search`` in one
statement and the tables are analyzed. Each query is then run through
``PostgresSearchService.search`` (so Python and the driver are in the numbers) ``--repeat``
times after a warm-up, and p50/p95 are printed per query and over all of them.

Refuses to touch a database that already has projects unless ``--reset`` is given, and then
truncates every table: never point it at a database you care about. ``--skip-load`` times
the queries against what an earlier run loaded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
import trove_classifiers
from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import orm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from warehouse import db as database  # noqa: E402
from warehouse.search import PostgresSearchService, rebuild_all  # noqa: E402
from warehouse.settings import _normalize_database_url  # noqa: E402

# Words that real project names and summaries are made of; the rest of the vocabulary is
# generated, so that most words are rare as in real text (Zipf-like frequencies).
COMMON_WORDS = """
python http client server api web framework async data json yaml toml parser cli tool tools
library test testing mock plugin django flask fastapi sql database orm redis cache queue task
worker aws azure cloud storage file files image images text string utils utility helpers
machine learning model models neural network deep numpy pandas array matrix plot chart
graph time date config settings logging log debug profile fast simple small tiny easy modern
secure crypto hash auth oauth token jwt email mail smtp html xml markdown render template
docs documentation build package packaging install deploy docker kubernetes shell command
terminal color progress download upload stream socket websocket rpc grpc protocol schema
validation types typing static analysis lint format code generator compiler interpreter
""".split()
SYLLABLES = (
    "ka lo mi ne su ta ri po xe zu ba de fi go hu ja ke lu ma no pa qu ro si te vu wa yo".split()
)
ALL_CLASSIFIERS = [
    c
    for c in trove_classifiers.sorted_classifiers
    if c not in trove_classifiers.deprecated_classifiers
]
POPULAR_CLASSIFIERS = [
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Operating System :: OS Independent",
    "License :: OSI Approved :: MIT License",
    "License :: OSI Approved :: Apache Software License",
    "Development Status :: 4 - Beta",
    "Development Status :: 5 - Production/Stable",
    "Intended Audience :: Developers",
    "Framework :: Django",
    "Framework :: Django :: 5.0",
    "Framework :: Flask",
    "Topic :: Software Development :: Libraries :: Python Modules",
    "Topic :: Internet :: WWW/HTTP",
]
# Names that queries below look for exactly.
KNOWN_NAMES = ["requests", "django", "flask", "numpy", "pandas", "httpx", "pytest", "click"]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words = list(COMMON_WORDS)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class TextMaker:
    def __init__(self, rng: random.Random, words: list[str]):
        self.rng = rng
        self.words = words
        # Zipf: the k-th word is 1/k as frequent as the first.
        weights = [1 / (rank + 1) for rank in range(len(words))]
        total = sum(weights)
        self.cumulative = []
        running = 0.0
        for weight in weights:
            running += weight / total
            self.cumulative.append(running)

    def words_(self, count: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=count)

    def sentence(self, low: int, high: int) -> str:
        return " ".join(self.words_(self.rng.randint(low, high))).capitalize()


def generate(count: int, seed: int):
    """Yields (name, summary, keywords, description, classifiers, versions, created)."""
    rng = random.Random(seed)
    text = TextMaker(rng, vocabulary(rng, 20_000))
    used: set[str] = set()
    start = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC)
    for index in range(count):
        if index < len(KNOWN_NAMES):
            name = KNOWN_NAMES[index]
        else:
            parts = text.words_(rng.randint(1, 3))
            name = rng.choice(["-", "_", "", "."]).join(parts)
            if canonicalize_name(name) in used or not name[-1].isalnum():
                name = f"{name}{index}"
        used.add(canonicalize_name(name))
        summary = text.sentence(4, 12)
        keywords = ",".join(text.words_(rng.randint(0, 5)))
        paragraphs = [text.sentence(8, 40) + "." for _ in range(rng.randint(1, 12))]
        description = f"# {name}\n\n" + "\n\n".join(paragraphs)
        classifiers = set(rng.sample(POPULAR_CLASSIFIERS, rng.randint(0, 5)))
        classifiers |= set(rng.sample(ALL_CLASSIFIERS, rng.randint(0, 3)))
        release_count = rng.choice([1, 1, 1, 2, 2, 3, 5, 8])
        created = start + datetime.timedelta(seconds=rng.randint(0, 10 * 365 * 86400))
        yield name, summary, keywords, description, sorted(classifiers), release_count, created


def load(engine: sa.Engine, count: int, seed: int) -> None:
    classifier_ids = {c: i for i, c in enumerate(ALL_CLASSIFIERS, start=1)}
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            with cursor.copy("COPY trove_classifiers (id, classifier) FROM STDIN") as copy:
                for classifier, id_ in classifier_ids.items():
                    copy.write_row((id_, classifier))
            rows = list(generate(count, seed))
            with cursor.copy(
                "COPY projects (id, name, normalized_name, created, last_serial, total_size)"
                " FROM STDIN"
            ) as projects:
                for project_id, (name, *_rest, created) in enumerate(rows, start=1):
                    projects.write_row((project_id, name, canonicalize_name(name), created, 0, 0))
            release_id = 0
            with cursor.copy(
                "COPY releases (id, project_id, version, canonical_version, sort_order,"
                " is_prerelease, created, yanked, yanked_reason, metadata_version, summary,"
                " description, description_content_type, keywords) FROM STDIN"
            ) as releases:
                links = []
                for project_id, row in enumerate(rows, start=1):
                    name, summary, keywords, description, classifiers, release_count, created = row
                    for position in range(release_count):
                        release_id += 1
                        prerelease = position == release_count - 1 and release_count > 2
                        version = f"1.{position}" + ("rc1" if prerelease else "")
                        releases.write_row(
                            (
                                release_id,
                                project_id,
                                version,
                                canonicalize_version(version),
                                position,
                                prerelease,
                                created + datetime.timedelta(days=30 * position),
                                False,
                                "",
                                "2.1",
                                summary,
                                description,
                                "text/markdown",
                                keywords,
                            )
                        )
                        links.extend((release_id, classifier_ids[c]) for c in classifiers)
            with cursor.copy("COPY release_classifiers (release_id, trove_id) FROM STDIN") as copy:
                for link in links:
                    copy.write_row(link)
            for table in ("projects", "releases", "trove_classifiers"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        raw.commit()
    finally:
        raw.close()


QUERIES = [
    ("exact name", dict(query="requests")),
    ("exact name, other spelling", dict(query="Django")),
    ("one common word", dict(query="http")),
    ("one very common word", dict(query="python")),
    ("one rare word", dict(query="kalomi")),
    ("two words", dict(query="web framework")),
    ("three words", dict(query="async http client")),
    ("typo in a name", dict(query="reqeusts")),
    ("phrase", dict(query='"json parser"')),
    ("word + classifier prefix", dict(query="web", classifiers=["Framework :: Django"])),
    ("classifier only", dict(query="", classifiers=["Topic :: Internet"])),
    (
        "two classifiers",
        dict(
            query="",
            classifiers=["Framework :: Flask", "Development Status :: 5 - Production/Stable"],
        ),
    ),
    ("word, newest first", dict(query="data", order="-created")),
    ("everything, newest first", dict(query="")),
    ("word, page 5", dict(query="test", page=5)),
    ("no match", dict(query="zzzzqqqxx")),
]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def backend_cpu_ns(pid: int) -> int | None:
    """CPU time the database backend has used (Linux, same machine), or None."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_queries(engine: sa.Engine, repeat: int) -> None:
    """Wall-clock latency, and CPU time (client + database backend) per query.

    On a machine shared with other work, wall-clock time includes waiting for a CPU; the
    CPU time is what the query costs, i.e. its latency on an otherwise idle server.
    """
    connection = engine.connect()  # one backend for the whole run, to read its CPU time
    session = orm.Session(bind=connection)
    service = PostgresSearchService(session)
    backend = session.scalar(sa.text("SELECT pg_backend_pid()"))
    session.rollback()
    measure_cpu = backend_cpu_ns(backend) is not None
    wall_all: list[float] = []
    cpu_all: list[float] = []
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = f"{'query':30} {'results':>8} {'wall p50':>9} {'wall p95':>9}"
    print(header + (f" {'cpu p50':>8} {'cpu p95':>8}" if measure_cpu else ""))
    for label, kwargs in QUERIES:
        for _ in range(3):  # warm-up: plans and pages cached, as on a busy server
            results = service.search(**kwargs)
            session.rollback()
        wall, cpu = [], []
        for _ in range(repeat):
            backend_before = backend_cpu_ns(backend) if measure_cpu else 0
            client_before = time.thread_time_ns()
            started = time.perf_counter()
            results = service.search(**kwargs)
            wall.append((time.perf_counter() - started) * 1000)
            if measure_cpu:
                used = backend_cpu_ns(backend) - backend_before
                used += time.thread_time_ns() - client_before
                cpu.append(used / 1e6)
            session.rollback()
        wall_all += wall
        cpu_all += cpu
        total = f"{results.total}{'+' if results.total_is_lower_bound else ''}"
        line = f"{label:30} {total:>8} {statistics.median(wall):9.1f} {percentile(wall, 0.95):9.1f}"
        if cpu:
            line += f" {statistics.median(cpu):8.1f} {percentile(cpu, 0.95):8.1f}"
        print(line)
    line = f"{'ALL QUERIES':30} {'':8} {statistics.median(wall_all):9.1f} {percentile(wall_all, 0.95):9.1f}"
    if cpu_all:
        line += f" {statistics.median(cpu_all):8.1f} {percentile(cpu_all, 0.95):8.1f}"
    print(line)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    session.close()
    connection.close()


def create_database_if_missing(url: str) -> None:
    target = sa.make_url(url)
    maintenance = sa.create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with maintenance.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        )
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
            print(f"created database {target.database}")
    maintenance.dispose()


def rebuild(engine: sa.Engine) -> None:
    # From empty, as after the migration: rewriting every row in place would leave the table
    # twice its size until autovacuum catches up, and time that instead.
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE project_search"))
    started = time.perf_counter()
    session = database.make_session_factory(engine)()
    rebuild_all(session)
    session.commit()
    session.close()
    print(f"rebuild_all in {time.perf_counter() - started:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
        size = connection.scalar(
            sa.text("SELECT pg_size_pretty(pg_total_relation_size('project_search'))")
        )
        heap = connection.scalar(
            sa.text("SELECT pg_size_pretty(pg_relation_size('project_search'))")
        )
    print(f"project_search: {size} with TOAST and indexes, {heap} in rows")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20251121)
    parser.add_argument("--reset", action="store_true", help="truncate every table first")
    parser.add_argument("--skip-load", action="store_true", help="time queries only")
    parser.add_argument(
        "--rebuild", action="store_true", help="with --skip-load: rebuild project_search first"
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL")
    if not url:
        parser.error("set DATABASE_URL to a scratch database")
    url = _normalize_database_url(url)
    engine = database.create_engine(url)

    if not args.skip_load:
        from alembic import command

        create_database_if_missing(url)

        from warehouse.cli.db import alembic_config

        command.upgrade(alembic_config(url), "heads")
        with engine.connect() as connection:
            existing = connection.scalar(sa.text("SELECT count(*) FROM projects"))
        if existing and not args.reset:
            parser.error(f"the database has {existing} projects; pass --reset to truncate it")
        tables = ", ".join(f'"{t.name}"' for t in database.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))

        started = time.perf_counter()
        load(engine, args.projects, args.seed)
        print(f"loaded {args.projects} projects in {time.perf_counter() - started:.1f} s")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))  # plans for rebuild_all need statistics
        rebuild(engine)

    if args.skip_load and args.rebuild:
        rebuild(engine)
    run_queries(engine, args.repeat)
    engine.dispose()


if __name__ == "__main__":
    main()
