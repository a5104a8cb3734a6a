"""How fast CDN log lines are counted: generate realistic lines, then time the parse and the
whole ingest (gunzip, parse, one COPY + upsert into PostgreSQL).

    .venv/bin/python bench/stats_ingest.py --lines 2000000
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/db .venv/bin/python \
        bench/stats_ingest.py --lines 2000000 --objects 4       # also writes to the database

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


def generate(path: Path, count: int, projects: int, agents: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    pool = agent_pool(rng, agents)
    # Zipf-like: a few projects get most downloads, as on PyPI.
    names = [f"project-{i}" for i in range(projects)]
    weights = [1 / (i + 1) for i in range(projects)]
    picks = rng.choices(range(projects), weights, k=min(count, 200_000))
    start = datetime.datetime(2026, 12, 4, 0, 0, tzinfo=datetime.UTC)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for i in range(count):
            stamp = (start + datetime.timedelta(seconds=i * 86400 // count)).strftime(
                "%a, %d %b %Y %H:%M:%S GMT"
            )
            agent = pool[rng.randrange(agents)]
            country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
            roll = rng.random()
            if roll < 0.001:
                out.write(f"download|{stamp}|broken line\n")
                continue
            project = names[picks[i % len(picks)]]
            if roll < 0.03:
                out.write(
                    f"simple|{stamp}|{country}|/simple/{project}/|TLSv1.3|"
                    f"TLS_AES_128_GCM_SHA256||||{agent}\n"
                )
                continue
            # Most downloads are of a project's latest release.
            latest = picks[i % len(picks)] % 10
            version = f"1.{latest}" if rng.random() < 0.7 else f"0.{rng.randint(0, 9)}"
            ptype = "bdist_wheel" if roll < 0.85 else "sdist"
            out.write(
                f"download|{stamp}|{country}|/packages/ab/cd/x/{project}-{version}.whl|TLSv1.3|"
                f"TLS_AES_128_GCM_SHA256|{project}|{version}|{ptype}|{agent}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=30_000, help="distinct agent strings")
    parser.add_argument(
        "--objects",
        type=int,
        default=2,
        help="log objects the lines are counted as (with DATABASE_URL)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "cdn.log.gz"
        t = time.perf_counter()
        generate(path, args.lines, args.projects, args.agents)
        print(
            f"generated {args.lines:,} lines ({path.stat().st_size / 1e6:.0f} MB gzipped) "
            f"in {time.perf_counter() - t:.1f} s"
        )

        # 1. Parse only (gunzip + split + tally + break-down), agents cold then warm.
        for label in ("cold agent cache", "warm agent cache"):
            if label.startswith("cold"):
                stats_lines._ua_cache.clear()
            t, cpu = time.perf_counter(), time.process_time()
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as source:
                tally = stats_lines.Tally().feed(source)
            fed = time.process_time() - cpu
            rows = sum(1 for _ in tally.rows())
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
                f"{len(tally.counts):,} distinct keys, {rows:,} aggregate rows) in "
                f"{seconds:.1f} s"
            )

        url = os.environ.get("DATABASE_URL")
        if not url:
            print("DATABASE_URL not set: the database write was not measured")
            return
        from warehouse import db
        from warehouse.stats import ingest

        engine = db.create_engine(url)
        factory = db.make_session_factory(engine)
        t, cpu = time.perf_counter(), time.process_time()
        total = 0
        run = int(time.time())
        for n in range(args.objects):
            with factory() as session, gzip.open(path, "rt", encoding="utf-8") as source:
                outcome = ingest.count(session, f"bench/{run}-{n}", source)
                session.commit()
                total += outcome.lines
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
        print(
            f"ingest into PostgreSQL: {total / seconds:,.0f} lines/s wall ({args.objects} "
            f"objects, {total:,} lines) in {seconds:.1f} s; this process used {cpu:.1f} CPU-s "
            f"({total / cpu:,.0f} lines/CPU-s), PostgreSQL the rest"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
