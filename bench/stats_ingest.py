"""How fast CDN log lines are counted: generate realistic log objects, then time the parse
and the whole ingest (gunzip, parse, one transaction per batch of objects: their identities,
COPY of the merged rows, one upsert) by worker processes counting batches of objects as
Celery workers on the stats queue do.

    .venv/bin/python bench/stats_ingest.py --parse-only       # one object, in this process
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/db .venv/bin/python \
        bench/stats_ingest.py --lines 10000000 --objects 10 --workers 2 --batch 5

Lines follow PyPI's Fastly format with real agent strings: pip and uv (JSON agents over many
pip/uv, Python, distro and OS versions, so the agent cache sees tens of thousands of distinct
strings as it does in production), poetry, pdm, bandersnatch, devpi, browsers, curl, crawlers
and monitors; ~3% index pages, 0.1% malformed; projects drawn from a Zipf-like distribution
over --projects names. Run by hand, never as a test; results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from warehouse.stats import lines as stats_lines  # noqa: E402

COUNTRIES = ["US", "DE", "CN", "GB", "FR", "IN", "JP", "BR", "NL", "CA", "(null)"]
COUNTRY_WEIGHTS = [40, 8, 12, 5, 4, 8, 4, 3, 3, 3, 1]
DISTROS = [
    ("Ubuntu", "22.04", "jammy", "2.35"),
    ("Ubuntu", "24.04", "noble", "2.39"),
    ("Debian GNU/Linux", "12", "bookworm", "2.36"),
    ("Alpine Linux", "3.20", None, None),
    ("Amazon Linux", "2023", None, "2.34"),
    ("macOS", "14.6", None, None),
]
SYSTEMS = [
    ("Linux", "6.5.0-14-generic"),
    ("Linux", "5.15.0-1057-aws"),
    ("Darwin", "23.6.0"),
    ("Windows", "10"),
]
PYTHONS = ["3.8.18", "3.9.19", "3.10.14", "3.11.9", "3.12.7", "3.13.1", "2.7.18"]


def pip_agent(rng: random.Random) -> str:
    pip = f"{rng.randint(20, 25)}.{rng.randint(0, 3)}"
    python = rng.choice(PYTHONS)
    name, version, ident, libc = rng.choice(DISTROS)
    system, release = rng.choice(SYSTEMS)
    data = {
        "ci": rng.choice([None, True]),
        "cpu": rng.choice(["x86_64", "aarch64", "AMD64", "arm64"]),
        "distro": {
            "id": ident,
            "libc": {"lib": "glibc", "version": libc},
            "name": name,
            "version": version,
        },
        "implementation": {"name": "CPython", "version": python},
        "installer": {"name": "pip", "version": pip},
        "openssl_version": f"OpenSSL 3.0.{rng.randint(2, 15)} 30 Jan 2024",
        "python": python,
        "rustc_version": f"1.{rng.randint(60, 80)}.0",
        "setuptools_version": f"{rng.randint(60, 75)}.{rng.randint(0, 3)}.0",
        "system": {"name": system, "release": release},
    }
    return f"pip/{pip} " + json.dumps(data, separators=(",", ":"))


def uv_agent(rng: random.Random) -> str:
    uv = f"0.{rng.randint(3, 5)}.{rng.randint(0, 30)}"
    python = rng.choice(PYTHONS[:-1])
    system, release = rng.choice(SYSTEMS)
    data = {
        "installer": {"name": "uv", "version": uv},
        "python": python,
        "implementation": {"name": "CPython", "version": python},
        "distro": None,
        "system": {"name": system, "release": release},
        "cpu": "x86_64",
        "openssl_version": None,
        "setuptools_version": None,
        "rustc_version": None,
        "ci": rng.choice([None, True]),
    }
    return f"uv/{uv} " + json.dumps(data, separators=(",", ":"))


FIXED = {
    "poetry": lambda r: (
        f"poetry/1.{r.randint(5, 8)}.{r.randint(0, 4)} CPython/{r.choice(PYTHONS[:-1])} Linux/6.8.0"
    ),
    "pdm": lambda r: (
        f"pdm/2.{r.randint(10, 22)}.{r.randint(0, 3)} CPython/{r.choice(PYTHONS[:-1])}"
    ),
    "bandersnatch": lambda r: "bandersnatch/6.8.0 (CPython 3.11.7-final0, Linux x86_64)",
    "devpi": lambda r: "devpi-server/6.14.0 (py3.12.3; linux)",
    "browser": lambda r: (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{r.randint(100, 131)}.0.0.0 Safari/537.36"
    ),
    "curl": lambda r: f"curl/8.{r.randint(0, 9)}.0",
    "googlebot": lambda r: (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "datadog": lambda r: "Datadog Agent/7.59.0",
}
# Shares of lines by agent family (pip dominates PyPI's traffic; uv is next).
MIX = [
    ("pip", 0.62),
    ("uv", 0.2),
    ("poetry", 0.04),
    ("pdm", 0.01),
    ("bandersnatch", 0.04),
    ("devpi", 0.01),
    ("browser", 0.04),
    ("curl", 0.02),
    ("googlebot", 0.01),
    ("datadog", 0.01),
]


def agent_pool(rng: random.Random, size: int) -> list[str]:
    pool = []
    families, weights = zip(*MIX, strict=True)
    for _ in range(size):
        family = rng.choices(families, weights)[0]
        if family == "pip":
            pool.append(pip_agent(rng))
        elif family == "uv":
            pool.append(uv_agent(rng))
        else:
            pool.append(FIXED[family](rng))
    return pool


def generate(
    path: Path,
    count: int,
    projects: int,
    agents: int,
    seed: int = 11,
    start: datetime.datetime = datetime.datetime(2026, 12, 4, 0, 0, tzinfo=datetime.UTC),
    span: datetime.timedelta = datetime.timedelta(days=1),
) -> None:
    """``count`` lines spread evenly over ``span`` from ``start``. The random draws are made
    in bulk and each second's timestamp formatted once (a line per strftime made generating
    ten times slower than counting)."""
    rng = random.Random(seed)
    pool = agent_pool(random.Random(11), agents)  # the same agents in every object
    # Zipf-like: a few projects get most downloads, as on PyPI.
    names = [f"project-{i}" for i in range(projects)]
    weights = [1 / (i + 1) for i in range(projects)]
    step = span.total_seconds() / count
    block = 100_000
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for first in range(0, count, block):
            n = min(block, count - first)
            picks = rng.choices(range(projects), weights, k=n)
            chosen = rng.choices(pool, k=n)
            countries = rng.choices(COUNTRIES, COUNTRY_WEIGHTS, k=n)
            rolls = [rng.random() for _ in range(n)]
            latest = [rng.random() < 0.7 for _ in range(n)]
            olds = [rng.randint(0, 9) for _ in range(n)]
            stamps: dict[int, str] = {}
            lines = []
            for j in range(n):
                second = int((first + j) * step)
                stamp = stamps.get(second)
                if stamp is None:
                    stamp = stamps[second] = (start + datetime.timedelta(seconds=second)).strftime(
                        "%a, %d %b %Y %H:%M:%S GMT"
                    )
                roll = rolls[j]
                if roll < 0.001:
                    lines.append(f"download|{stamp}|broken line\n")
                    continue
                pick = picks[j]
                project = names[pick]
                agent = chosen[j]
                country = countries[j]
                if roll < 0.03:
                    lines.append(
                        f"simple|{stamp}|{country}|/simple/{project}/|TLSv1.3|"
                        f"TLS_AES_128_GCM_SHA256||||{agent}\n"
                    )
                    continue
                # Most downloads are of a project's latest release.
                version = f"1.{pick % 10}" if latest[j] else f"0.{olds[j]}"
                ptype = "bdist_wheel" if roll < 0.85 else "sdist"
                lines.append(
                    f"download|{stamp}|{country}|/packages/ab/cd/x/{project}-{version}.whl|"
                    f"TLSv1.3|TLS_AES_128_GCM_SHA256|{project}|{version}|{ptype}|{agent}\n"
                )
            out.write("".join(lines))


def _generate_object(job: tuple) -> str:
    path, count, projects, agents, number, objects = job
    span = datetime.timedelta(days=1) / objects
    start = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC) + span * number
    generate(Path(path), count, projects, agents, seed=1000 + number, start=start, span=span)
    return path


def object_files(data: Path, lines: int, objects: int, projects: int, agents: int) -> list[Path]:
    """The data set as ``objects`` gzipped log files of one day, made once and kept in
    ``data`` (generating is slower than counting); each covers its part of the day."""
    data.mkdir(parents=True, exist_ok=True)
    per = lines // objects
    paths = [data / f"{per}x{objects}-{projects}p-{n:03d}.log.gz" for n in range(objects)]
    missing = [
        (str(p), per, projects, agents, n, objects) for n, p in enumerate(paths) if not p.exists()
    ]
    if missing:
        t = time.perf_counter()
        with multiprocessing.Pool(2) as pool:
            for done in pool.imap_unordered(_generate_object, missing):
                print(f"  generated {done}", flush=True)
        print(f"generated {len(missing)} object(s) in {time.perf_counter() - t:.0f} s")
    return paths


def parse_only(path: Path) -> None:
    """Read, tally and break down one object in this process, agents cold then warm: the
    read alone (gunzip and split into blocks of lines), then the whole parse, then the
    line-by-line reference loop for comparison."""
    from warehouse.stats import ingest

    cpu = time.process_time()
    with open(path, "rb") as raw:
        size = sum(len(block) for block in ingest.object_lines(raw, path.name).blocks())
    read = time.process_time() - cpu
    print(f"read alone (gunzip + blocks of lines): {size / 1e6:,.0f} MB in {read:.1f} CPU-s")
    for label in ("cold agent cache", "warm agent cache", "warm, line by line (reference)"):
        if label.startswith("cold"):
            stats_lines._ua_cache.clear()
            stats_lines._arrow_agents[:] = [
                stats_lines.pa.array([], stats_lines.pa.binary()),
                stats_lines.pa.array([], stats_lines.pa.int32()),
            ]
        t, cpu = time.perf_counter(), time.process_time()
        with open(path, "rb") as raw:
            lines = ingest.object_lines(raw, path.name)
            if "line by line" in label:
                tally = stats_lines.Tally().feed_each(iter(lines))
            else:
                tally = stats_lines.Tally().feed(lines)
        fed = time.process_time() - cpu
        keys = tally.keys()
        aggregates = stats_lines.Aggregates()
        aggregates.add(tally)
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
        # CPU seconds as well as wall-clock: on a shared machine the process may get a
        # fraction of a core; lines per CPU second is what one free core would do.
        print(
            f"parse ({label}): {tally.lines / seconds:,.0f} lines/s wall, "
            f"{tally.lines / cpu:,.0f} lines/CPU-s (read+tally {tally.lines / fed:,.0f} "
            f"lines/CPU-s, break-down {cpu - fed:.1f} CPU-s) "
            f"({tally.lines:,} lines, {tally.downloads:,} downloads, "
            f"{tally.ignored:,} ignored, {tally.malformed:,} malformed, "
            f"{keys.num_rows if keys is not None else 0:,} key rows (distinct per block), "
            f"{len(aggregates):,} aggregate rows) in {seconds:.1f} s"
        )


def _count_worker(url: str, jobs, results, run: str, threads: int) -> None:
    """One worker process, as a Celery worker on the stats queue counts: a batch of objects
    per job (a count_logs message), read ``threads`` at a time and merged into as few
    transactions as memory allows."""
    import contextlib

    from warehouse import db
    from warehouse.stats import ingest

    @contextlib.contextmanager
    def opened(path: str):
        with open(path, "rb") as raw:
            yield ingest.object_lines(raw, path)

    engine = db.create_engine(url)
    factory = db.make_session_factory(engine)
    cpu = time.process_time()
    lines = 0
    while (batch := jobs.get()) is not None:
        sources = [
            (f"bench/{run}/{Path(path).name}", lambda path=path: opened(path)) for path in batch
        ]
        for outcome in ingest.count_all(factory, sources, threads=threads):
            lines += outcome.lines
    engine.dispose()
    results.put((lines, time.process_time() - cpu))


def postgres_cpu_seconds(data: Path | None) -> float | None:
    """CPU seconds used so far by the PostgreSQL cluster in ``data`` (a local one): the
    postmaster, its exited backends (its children's times) and the processes still running."""
    if data is None:
        return None
    postmaster = (data / "postmaster.pid").read_text().split()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def times(pid: str, children: bool) -> tuple[int, float]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used = int(fields[11]) + int(fields[12])  # utime, stime
        if children:
            used += int(fields[13]) + int(fields[14])  # cutime, cstime
        return int(fields[1]), used / tick  # ppid, seconds

    total = times(postmaster, True)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent, seconds = times(entry.name, False)
            except (OSError, IndexError, ValueError):
                continue
            if str(parent) == postmaster:
                total += seconds
    return total


def ingest_all(
    url: str,
    paths: list[Path],
    workers: int,
    batch: int,
    threads: int = 1,
    pg_data: Path | None = None,
) -> None:
    from warehouse import db

    run = str(int(time.time()))
    pg_cpu = postgres_cpu_seconds(pg_data)
    jobs: multiprocessing.Queue = multiprocessing.Queue()
    results: multiprocessing.Queue = multiprocessing.Queue()
    for start in range(0, len(paths), batch):
        jobs.put([str(p) for p in paths[start : start + batch]])
    for _ in range(workers):
        jobs.put(None)
    load = os.getloadavg()
    t = time.perf_counter()
    procs = [
        multiprocessing.Process(target=_count_worker, args=(url, jobs, results, run, threads))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    done = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    seconds = time.perf_counter() - t
    engine = db.create_engine(url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*) FROM stats_daily_downloads").scalar()
    engine.dispose()
    total = sum(lines for lines, _ in done)
    cpu = sum(c for _, c in done)
    print(f"load average before: {load[0]:.2f}, after: {os.getloadavg()[0]:.2f}")
    if pg_cpu is not None:
        pg_cpu = postgres_cpu_seconds(pg_data) - pg_cpu
        # What two free cores would do: every CPU second of the workers and of PostgreSQL.
        print(
            f"PostgreSQL used {pg_cpu:.1f} CPU-s; workers + PostgreSQL: "
            f"{total / (cpu + pg_cpu):,.0f} lines per CPU-s, so {2 * total / (cpu + pg_cpu):,.0f} "
            "lines/s on 2 free cores if both are kept busy"
        )
    print(
        f"ingest into PostgreSQL: {total / seconds:,.0f} lines/s wall ({len(paths)} objects, "
        f"{total:,} lines, {workers} worker process(es) of {threads} reading thread(s), batches of {batch} "
        f"objects) in "
        f"{seconds:.1f} s; the workers used {cpu:.1f} CPU-s ({total / cpu:,.0f} lines/CPU-s); "
        f"{rows:,} rows in stats_daily_downloads"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--objects", type=int, default=10, help="log objects the lines are in")
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=30_000, help="distinct agent strings")
    parser.add_argument("--workers", type=int, default=2, help="counting processes")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "stats-bench-logs",
        help="where the generated objects are kept between runs",
    )
    parser.add_argument(
        "--first", type=int, help="count only the first N objects of the set (a scaled sample)"
    )
    parser.add_argument(
        "--pg-data", type=Path, help="the local cluster's data directory: report its CPU time"
    )
    parser.add_argument("--batch", type=int, default=5, help="objects per job (count_logs message)")
    parser.add_argument(
        "--threads", type=int, default=1, help="reading threads per worker (stats_read_threads)"
    )
    parser.add_argument("--parse-only", action="store_true", help="time the parse of one object")
    args = parser.parse_args()

    paths = object_files(args.data, args.lines, args.objects, args.projects, args.agents)
    paths = paths[: args.first] if args.first else paths
    if args.parse_only:
        parse_only(paths[0])
        return
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL not set: the database write was not measured")
        return
    ingest_all(url, paths, args.workers, args.batch, args.threads, args.pg_data)


if __name__ == "__main__":
    main()
