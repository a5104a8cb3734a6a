"""Fill a bench stack's database with PyPI's shape, by hand.

    .venv/bin/python bench/stack.py start --name shape --port 18500      # prints DATABASE_URL
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/warehouse \
        .venv/bin/python bench/pypi_shape.py [--projects 700000] [--files 10000000] [--seed 1]

The database must be migrated and hold no projects. What it writes, all with COPY:

* ``projects``: names built from word pieces the way PyPI's are (``django-``, ``pytest-``,
  ``types-``, ``-client``, ``py...``), with no two alike once normalized (PEP 503);
* ``releases``: per project a heavy-tailed count (most 1-10, a few hundred, and named giants
  like ``botocore`` with thousands), versions increasing, some pre-releases, ``sort_order``
  dense, summaries/descriptions of log-normal length;
* ``release_files``: an sdist and 0..N wheels per release with real-looking tags (pure
  ``py3-none-any`` or a CPython x platform matrix), log-normal sizes, upload times spread
  over years, digests, ``path`` in the content-addressed layout, and ``metadata_sha256`` /
  ``metadata_blake2_256`` for every wheel (PEP 658). NO blob is written to any store: at this
  scale the rows are what is measured; a download of a generated file is a 404;
* ``file_registry``: every filename (as uploads would have left it);
* ``journals``: one entry per change (create, new release, add file) with increasing
  serials, and each project's ``last_serial`` equal to its newest entry. Serials are given
  project after project (a project's entries are contiguous), so ``submitted_date`` increases
  with the serial within a project only, not across the whole journal.

Rows are generated on the fly and streamed: memory stays flat in the number of files (only
the set of normalized project names is held). Per project, the draws come from a generator
seeded by ``(seed, project index)``, so each table's pass regenerates the same project without
keeping it. Before loading, the foreign keys and indexes of the loaded tables are dropped and
rebuilt afterwards (``--keep-indexes`` keeps them: slower, for small loads); then ANALYZE, the
``/simple/`` root listing's chunks are rendered (``warehouse.api.root_listing``), and
``project_search`` is rebuilt (``warehouse.search.indexing.rebuild_all``) unless
``--no-search``. ``--files`` is a target: the total lands within a fraction of a percent.
"""

from __future__ import annotations

import argparse
import array
import dataclasses
import datetime
import math
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

LOADED_TABLES = ("projects", "releases", "release_files", "file_registry", "journals")

# Projects real mirrors know for their many releases: (name, releases, wheels per release)
# at 10 million files; fewer in proportion for a smaller load.
GIANTS = (
    ("botocore", 4_999, 1),  # 9,998 files: the "project with 10,000 files"
    ("boto3", 3_000, 1),
    ("awscli", 2_500, 1),
    ("grpcio-tools", 400, 24),
    ("tf-nightly", 1_200, 8),
)
FULL_SCALE_FILES = 10_000_000

PREFIXES = (
    "py", "django-", "flask-", "pytest-", "types-", "sphinx-", "aws-", "azure-", "google-",
    "jupyter-", "ckan-", "odoo-", "mkdocs-", "napari-", "apache-airflow-providers-", "fastapi-",
    "open-", "python-", "lib", "tap-", "target-", "dbt-", "opentelemetry-", "pulumi-", "",
)  # fmt: skip
WORDS = (
    "data", "json", "http", "cloud", "auth", "cache", "config", "stream", "graph", "task",
    "queue", "model", "vision", "text", "token", "crypto", "image", "audio", "video", "geo",
    "time", "log", "metric", "trace", "test", "mock", "shell", "file", "path", "table", "sql",
    "redis", "kafka", "mongo", "search", "index", "report", "chart", "plot", "map", "net",
    "socket", "web", "api", "rest", "grpc", "proto", "schema", "form", "parse", "lint",
    "format", "diff", "sync", "async", "event", "hook", "plugin", "tool", "kit", "core",
    "lab", "bot", "chat", "mail", "sms", "pay", "shop", "game", "math", "stat", "learn",
    "neural", "tensor", "quant", "bio", "chem", "astro", "ocean", "weather", "energy", "robot",
    "serial", "usb", "gpio", "pixel", "font", "color", "markdown", "yaml", "toml", "xml",
    "csv", "pdf", "excel", "doc", "wiki", "blog", "feed", "news", "secret", "vault", "key",
    "sign", "hash", "zip", "tar", "docker", "kube", "helm", "terraform", "ansible", "salt",
    "git", "github", "gitlab", "slack", "discord", "telegram", "twitter", "reddit", "s3",
    "lambda", "queue", "pipe", "flow", "dag", "batch", "spark", "dask", "ray", "arrow",
)  # fmt: skip
SUFFIXES = (
    "", "", "", "-client", "-utils", "-sdk", "-cli", "-api", "-tools", "lib", "py", "2", "3",
    "-core", "-server", "-plugin", "-extension", "-helpers", "-wrapper", "x", "-ng", "-lite",
)  # fmt: skip
PYTHON_TAGS = ("cp38", "cp39", "cp310", "cp311", "cp312", "cp313")
PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_1_x86_64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
    "win32",
    "manylinux_2_5_i686.manylinux1_i686",
)
BINARY_TAGS = tuple(f"{py}-{py}-{plat}" for py in reversed(PYTHON_TAGS) for plat in PLATFORMS)
REQUIRES_PYTHON = (None, None, ">=3.7", ">=3.8", ">=3.9", ">=3.10", ">=2.7, !=3.0.*")
UPLOADERS = ("twine/4.0.2 CPython/3.11.4", "twine/5.1.1 CPython/3.12.3", "poetry/1.8.3", None)

EPOCH = datetime.datetime(2008, 1, 1, tzinfo=datetime.UTC)
SPAN_SECONDS = 18 * 365 * 86400  # 2008 .. 2026
LOREM = " ".join(random.Random(0).choices(WORDS, k=40_000))


@dataclasses.dataclass
class Shape:
    """How many releases and wheels a project gets, fixed before any row is written."""

    releases: int
    wheels: int  # per release
    binary: bool


def draw_base(rng: random.Random) -> tuple[float, int, bool]:
    """The scale-free draws: a log-normal release count (median 3), the wheels per release."""
    base = rng.lognormvariate(math.log(3), 1.1)
    kind = rng.random()
    if kind < 0.25:
        return base, 0, False  # sdist only (old projects)
    if kind < 0.93:
        return base, 1, False  # one pure wheel
    return base, rng.choice((4, 8, 12, 16, 24, 36)), True


def scaled(base: float, scale: float) -> int:
    # Capped: only the named giants go past a couple of thousand releases.
    return min(MAX_RELEASES, max(1, round(base * scale)))


MAX_RELEASES = 1_500


def draw_shape(rng: random.Random, scale: float) -> Shape:
    base, wheels, binary = draw_base(rng)
    return Shape(scaled(base, scale), wheels, binary)


def files_of(shape: Shape) -> int:
    return shape.releases * (1 + shape.wheels)


def project_rng(seed: int, index: int, stream: int) -> random.Random:
    return random.Random((seed * 1_000_003 + index) * 7 + stream)


class Plan:
    """Every project's name and shape, scaled so the files add up to the target."""

    def __init__(self, projects: int, files: int, seed: int, giant_scale: float | None = None):
        if projects < len(GIANTS) + 1:
            raise SystemExit(f"--projects must be at least {len(GIANTS) + 1}")
        self.seed = seed
        if giant_scale is None:
            giant_scale = min(1.0, files / FULL_SCALE_FILES)
        self.giants = [
            (name, Shape(max(3, round(releases * giant_scale)), wheels, wheels > 1))
            for name, releases, wheels in GIANTS
        ]
        budget = files - sum(files_of(shape) for _, shape in self.giants)
        count = projects - len(self.giants)
        bases, per_release = array.array("d"), array.array("b")
        for i in range(count):
            base, wheels, _ = draw_base(project_rng(seed, i, 0))
            bases.append(base)
            per_release.append(1 + wheels)
        # Bisect the release-count scale so the files add up to the target: no rows yet.
        low, high = 0.01, 1000.0
        for _ in range(25):
            middle = math.sqrt(low * high)
            total = sum(scaled(b, middle) * f for b, f in zip(bases, per_release, strict=True))
            if total < budget:
                low = middle
            else:
                high = middle
        self.scale = low
        self.count = count

    def projects(self) -> Iterator[tuple[int, str, Shape]]:
        """(index, name, shape), the same sequence every time it is called."""
        seen: set[str] = set()
        for index, (name, shape) in enumerate(self.giants):
            seen.add(normalize(name))
            yield index, name, shape
        for i in range(self.count):
            rng = project_rng(self.seed, i, 0)
            shape = draw_shape(rng, self.scale)
            name = unique_name(rng, seen)
            yield len(self.giants) + i, name, shape


def normalize(name: str) -> str:
    return canonicalize_name(name)


def unique_name(rng: random.Random, seen: set[str]) -> str:
    words = rng.randint(1, 3)
    base = rng.choice(PREFIXES) + "-".join(rng.choice(WORDS) for _ in range(words))
    base += rng.choice(SUFFIXES)
    if rng.random() < 0.2:
        base = base.replace("-", "_")
    if rng.random() < 0.15:
        base = base.title().replace("_", "").replace("-", "")
    name, n = base, 1
    while (normalized := normalize(name)) in seen or not normalized:
        n += 1
        name = f"{base}{n}"
    seen.add(normalized)
    return name


@dataclasses.dataclass
class ReleaseRow:
    id: int
    rank: int  # sort_order: the versions are generated in increasing order
    version: str
    canonical_version: str
    prerelease: bool
    created: datetime.datetime


def canonical(major: int, minor: int, patch: int, pre: str = "") -> str:
    """packaging's canonical form for these versions: trailing zero parts dropped."""
    parts = [major, minor, patch]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts)) + pre


def releases_of(seed: int, index: int, shape: Shape, first_id: int) -> Iterator[ReleaseRow]:
    rng = project_rng(seed, index, 1)
    start = rng.random() * SPAN_SECONDS * 0.95
    # Releases spread between the project's creation and now, denser when there are many.
    step = (SPAN_SECONDS - start) / (shape.releases + 1)
    major, minor, patch = (0, 1, 0) if rng.random() < 0.6 else (1, 0, 0)
    after_candidate = False
    moment = start
    for n in range(shape.releases):
        pre = ""
        if after_candidate:  # the final release the candidate announced
            minor, patch, after_candidate = minor + 1, 0, False
        elif n:
            roll = rng.random()
            if roll < 0.03 and n + 1 < shape.releases:
                pre, after_candidate = "rc1", True  # (minor + 1).0rc1, then (minor + 1).0
            elif roll < 0.06:
                major, minor, patch = major + 1, 0, 0
            elif roll < 0.25:
                minor, patch = minor + 1, 0
            else:
                patch += 1
        if pre:
            version = f"{major}.{minor + 1}.0{pre}"
            canonical_version = canonical(major, minor + 1, 0, pre)
        else:
            version = f"{major}.{minor}.{patch}"
            canonical_version = canonical(major, minor, patch)
        moment = min(moment + step * rng.uniform(0.2, 1.8), SPAN_SECONDS - 1)
        yield ReleaseRow(
            first_id + n,
            n,
            version,
            canonical_version,
            bool(pre),
            EPOCH + datetime.timedelta(seconds=moment),
        )


def wheel_tags(shape: Shape, rng: random.Random) -> tuple[str, ...]:
    if not shape.wheels:
        return ()
    if not shape.binary:
        return (rng.choice(("py3-none-any", "py3-none-any", "py2.py3-none-any")),)
    return BINARY_TAGS[: shape.wheels]


def size_of(rng: random.Random, binary: bool) -> int:
    # Log-normal: pure files around 30 kB, binary wheels around 2 MB, a long tail to ~1 GB.
    median = 2_000_000 if binary else 30_000
    return min(int(rng.lognormvariate(math.log(median), 1.4)) + 200, 1_000_000_000)


def file_stem(name: str) -> str:
    return normalize(name).replace("-", "_")


class Loader:
    def __init__(self, url: str, plan: Plan):
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.plan = plan

    def run(self, keep_indexes: bool, search: bool) -> dict[str, float]:
        timings: dict[str, float] = {}
        with psycopg.connect(self.url) as connection:
            cursor = connection.cursor()
            if cursor.execute("SELECT count(*) FROM projects").fetchone()[0]:
                raise SystemExit("the projects table is not empty: use an empty database")
            if cursor.execute("SELECT count(*) FROM journals").fetchone()[0]:
                raise SystemExit("the journal is not empty: use an empty database")
            dropped = [] if keep_indexes else drop_indexes(cursor)
            try:
                for table, rows, columns in (
                    ("projects", self.project_rows(), PROJECT_COLUMNS),
                    ("releases", self.release_rows(), RELEASE_COLUMNS),
                    ("release_files", self.file_rows(), FILE_COLUMNS),
                    ("journals", self.journal_rows(), JOURNAL_COLUMNS),
                ):
                    started = time.perf_counter()
                    count = 0
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                            count += 1
                    timings[f"copy {table} ({count:,} rows)"] = time.perf_counter() - started
                    print(f"  {table}: {count:,} rows in {timings_last(timings):.1f}s", flush=True)
                started = time.perf_counter()
                cursor.execute(
                    "INSERT INTO file_registry (filename) SELECT filename FROM release_files"
                )
                timings["file_registry"] = time.perf_counter() - started
                for table in ("projects", "releases", "release_files", "file_registry"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
            except BaseException:
                connection.rollback()
                restore_indexes(connection.cursor(), dropped)
                connection.commit()
                raise
            started = time.perf_counter()
            restore_indexes(cursor, dropped)
            timings["indexes and constraints"] = time.perf_counter() - started
            connection.commit()
            connection.autocommit = True
            started = time.perf_counter()
            for table in LOADED_TABLES:
                cursor.execute(f"ANALYZE {table}")
            timings["analyze"] = time.perf_counter() - started
        # COPY bypassed the commit reactions that keep these current: build them whole.
        started = time.perf_counter()
        in_session(self.url, "warehouse.api.root_listing", "rebuild_locked")
        timings["/simple/ root listing rebuild_locked"] = time.perf_counter() - started
        if search:
            started = time.perf_counter()
            in_session(self.url, "warehouse.search.indexing", "rebuild_all")
            timings["search rebuild_all"] = time.perf_counter() - started
        return timings

    # One generator per table; each walks the plan again (same seeds, same rows).

    def project_rows(self) -> Iterator[tuple]:
        serial = 0
        for index, name, shape in self.plan.projects():
            serial += 1 + shape.releases + files_of(shape)
            first = next(releases_of(self.plan.seed, index, shape, 0))
            total = 0
            sizes = project_rng(self.plan.seed, index, 2)
            tags_rng = project_rng(self.plan.seed, index, 3)
            tags = wheel_tags(shape, tags_rng)
            for _ in range(shape.releases):
                total += self._release_sizes(sizes, tags)[0]
            yield (index + 1, name, normalize(name), first.created, serial, total)

    @staticmethod
    def _release_sizes(rng: random.Random, tags: tuple[str, ...]) -> tuple[int, list[int]]:
        sizes = [size_of(rng, False)] + [size_of(rng, not tag.endswith("-any")) for tag in tags]
        return sum(sizes), sizes

    def _walk(self) -> Iterator[tuple[int, str, Shape, int, ReleaseRow, tuple[str, ...]]]:
        release_id = 0
        for index, name, shape in self.plan.projects():
            tags = wheel_tags(shape, project_rng(self.plan.seed, index, 3))
            for release in releases_of(self.plan.seed, index, shape, release_id + 1):
                yield index, name, shape, release_id, release, tags
            release_id += shape.releases

    def release_rows(self) -> Iterator[tuple]:
        current, text_rng = -1, None
        for index, name, _shape, _, release, _tags in self._walk():
            if index != current:
                current, text_rng = index, project_rng(self.plan.seed, index, 4)
            length = min(int(text_rng.lognormvariate(math.log(1500), 1.2)), 60_000)
            offset = text_rng.randrange(0, len(LOREM) - 61_000)
            description = LOREM[offset : offset + length]
            summary = f"{name}: {LOREM[offset : offset + 60].strip()}"
            yield (
                release.id,
                index + 1,
                release.version,
                release.canonical_version,
                release.rank,
                release.prerelease,
                release.created,
                False,
                "",
                "2.1",
                summary,
                description,
                "text/markdown",
                f"<p>{description}</p>",
                "bench " + name,
                f"{name.lower()}@example.invalid",
                "MIT",
                ">=3.8",
            )

    def file_rows(self) -> Iterator[tuple]:
        file_id = 0
        current, sizes, digests = -1, None, None
        for index, name, _shape, _, release, tags in self._walk():
            if index != current:
                current = index
                sizes = project_rng(self.plan.seed, index, 2)
                digests = project_rng(self.plan.seed, index, 5)
                stem = file_stem(name)
            _, release_sizes = self._release_sizes(sizes, tags)
            uploaded = release.created
            filenames = [f"{stem}-{release.version}.tar.gz"] + [
                f"{stem}-{release.version}-{tag}.whl" for tag in tags
            ]
            for n, (filename, size) in enumerate(zip(filenames, release_sizes, strict=True)):
                file_id += 1
                # One draw per file: sha256, blake2b-256, md5, and the wheel's METADATA digests.
                h = digests.randbytes(144).hex()
                blake2 = h[64:128]
                wheel = n > 0
                yield (
                    file_id,
                    release.id,
                    filename,
                    "bdist_wheel" if wheel else "sdist",
                    tags[n - 1].split("-")[0] if wheel else "source",
                    ">=3.8",
                    size,
                    h[128:160],
                    h[:64],
                    blake2,
                    f"{blake2[:2]}/{blake2[2:4]}/{blake2[4:]}/{filename}",
                    uploaded + datetime.timedelta(seconds=n * 7) if n else uploaded,
                    UPLOADERS[file_id % len(UPLOADERS)],
                    h[160:224] if wheel else None,
                    h[224:288] if wheel else None,
                )

    def journal_rows(self) -> Iterator[tuple]:
        serial = 0
        current = -1
        for index, name, _shape, _, release, tags in self._walk():
            if index != current:
                current = index
                stem = file_stem(name)
                serial += 1
                yield (serial, name, None, "create", release.created, "bench")
            serial += 1
            yield (serial, name, release.version, "new release", release.created, "bench")
            for n, tag in enumerate(("",) + tags):
                serial += 1
                if n:
                    action = f"add bdist_wheel file {stem}-{release.version}-{tag}.whl"
                else:
                    action = f"add sdist file {stem}-{release.version}.tar.gz"
                moment = release.created + datetime.timedelta(seconds=n * 7)
                yield (serial, name, release.version, action, moment, "bench")


def timings_last(timings: dict[str, float]) -> float:
    return list(timings.values())[-1]


PROJECT_COLUMNS = ("id", "name", "normalized_name", "created", "last_serial", "total_size")
RELEASE_COLUMNS = (
    "id", "project_id", "version", "canonical_version", "sort_order", "is_prerelease", "created",
    "yanked", "yanked_reason", "metadata_version", "summary", "description",
    "description_content_type", "description_html", "author", "author_email", "license",
    "requires_python",
)  # fmt: skip
FILE_COLUMNS = (
    "id", "release_id", "filename", "packagetype", "python_version", "requires_python", "size",
    "md5_digest", "sha256_digest", "blake2_256_digest", "path", "upload_time", "uploaded_via",
    "metadata_sha256", "metadata_blake2_256",
)  # fmt: skip
JOURNAL_COLUMNS = ("id", "name", "version", "action", "submitted_date", "submitted_by")


def drop_indexes(cursor) -> list[str]:
    """Drop the loaded tables' foreign keys, keys and indexes; return what rebuilds them."""
    tables = list(LOADED_TABLES)
    rebuild: list[str] = []
    constraints = cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint c
        WHERE c.contype IN ('f', 'p', 'u')
          AND (c.conrelid::regclass::text = ANY(%(t)s) OR c.confrelid::regclass::text = ANY(%(t)s))
        ORDER BY c.contype = 'f' DESC
        """,
        {"t": tables},
    ).fetchall()
    for table, name, _definition, _kind in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    indexes = cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "AND tablename = ANY(%(t)s)",
        {"t": tables},
    ).fetchall()
    for name, definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
        rebuild.append(definition)
    # Keys before foreign keys, which need them.
    for table, name, definition, _kind in sorted(constraints, key=lambda c: c[3] == "f"):
        rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return rebuild


def restore_indexes(cursor, statements: list[str]) -> None:
    cursor.execute("SET maintenance_work_mem = '512MB'")
    for statement in statements:
        started = time.perf_counter()
        cursor.execute(statement)
        print(f"  {time.perf_counter() - started:6.1f}s {statement[:100]}", flush=True)


def in_session(url: str, module: str, function: str) -> None:
    """Call ``module.function(session)`` in one transaction, committed."""
    import importlib

    from warehouse import db as database

    rebuild = getattr(importlib.import_module(module), function)
    engine = database.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with database.make_session_factory(engine)() as session, session.begin():
            rebuild(session)
    finally:
        engine.dispose()


def load(
    url: str,
    projects: int,
    files: int,
    seed: int,
    keep_indexes: bool = False,
    search: bool = True,
    giant_scale: float | None = None,
) -> dict[str, float]:
    """Plan and load; return {step: seconds}. Used by the CLI and by the tests."""
    started = time.perf_counter()
    plan = Plan(projects, files, seed, giant_scale)
    timings = {"plan": time.perf_counter() - started}
    timings.update(Loader(url, plan).run(keep_indexes, search))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=700_000)
    parser.add_argument("--files", type=int, default=10_000_000, help="target total of files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-indexes", action="store_true", help="load with indexes live")
    parser.add_argument("--no-search", action="store_true", help="skip rebuilding project_search")
    parser.add_argument(
        "--giant-scale",
        type=float,
        help="size of the named giants (botocore...) relative to PyPI's; default: as --files",
    )
    parser.add_argument("--database-url", help="default: $DATABASE_URL")
    args = parser.parse_args()
    url = args.database_url
    if not url:
        from warehouse.settings import Settings

        url = Settings.from_env().database_url
    started = time.perf_counter()
    timings = load(
        url,
        args.projects,
        args.files,
        args.seed,
        args.keep_indexes,
        not args.no_search,
        args.giant_scale,
    )
    for step, seconds in timings.items():
        print(f"{seconds:8.1f}s  {step}")
    print(f"{time.perf_counter() - started:8.1f}s  total")


if __name__ == "__main__":
    main()
