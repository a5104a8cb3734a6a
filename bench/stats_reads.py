"""How fast the statistics are read at scale: 100,000 projects with 365 days of aggregates.

    .venv/bin/python bench/stats_reads.py              # start, load once, measure
    .venv/bin/python bench/stats_reads.py --stop       # stop its PostgreSQL and Redis
    .venv/bin/python bench/stats_reads.py --mix 4000   # a day's traffic mix instead
    .venv/bin/python bench/stats_reads.py --compact    # closed months rewritten first

It starts its own PostgreSQL and Redis under $BENCH_WORK/stats-reads/ (not the test
database), loads the projects and the aggregates once (kept for the next runs), then times
the web app in this process (``warehouse.config.wsgi_app``, as gunicorn serves it, without
the CDN in front) answering /api/packages/<p>/recent, /overall, /python_minor and the page
/project/<p>/stats/, for projects of each size, and prints p50 / p95 / max in ms.

The aggregates are made by PostgreSQL itself (``INSERT ... SELECT`` over
``generate_series``: the fastest way to write them, no rows through Python), the primary key
built after the load. Projects come in three sizes, by rank:

* 100 big ones: every day, 20 versions, 6 installers, 8 Python versions, 4 systems,
  20 countries, 2 file types, with mirrors (85 rows a day);
* 900 middling ones: every day, 5 versions, 3 installers, 5 Python versions, 3 systems,
  5 countries (28 rows a day);
* 99,000 small ones: downloads on ~1 day in 30 (10 rows each such day).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devstack.services import Postgres, Redis, free_port  # noqa: E402

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "stats-reads"
TODAY = datetime.datetime.now(datetime.UTC).date()

# (tier, first rank, last rank + 1, days: "all" or 1 in N)
TIERS = (("big", 0, 100), ("middling", 100, 1000), ("small", 1000, 100_000))

_CATEGORIES = """
CREATE TEMPORARY TABLE bench_categories (tier text, dimension text, category text, mirror bool);
INSERT INTO bench_categories
SELECT 'big', 'overall', '', m FROM (VALUES (false), (true)) v(m)
UNION ALL SELECT 'big', 'version', '1.' || g, false FROM generate_series(0, 19) g
UNION ALL SELECT 'big', 'version', '1.' || g, true FROM generate_series(15, 19) g
UNION ALL SELECT 'big', 'installer', c, false
    FROM unnest(ARRAY['pip', 'uv', 'poetry', 'pdm', 'Browser', 'null']) c
UNION ALL SELECT 'big', 'installer', 'bandersnatch', true
UNION ALL SELECT 'big', 'python_minor', c, false
    FROM unnest(ARRAY['3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '3.14', 'null']) c
UNION ALL SELECT 'big', 'python_major', c, false FROM unnest(ARRAY['3', 'null']) c
UNION ALL SELECT 'big', 'system', c, false
    FROM unnest(ARRAY['Linux', 'Windows', 'Darwin', 'null']) c
UNION ALL SELECT 'big', 'country', c, false
    FROM unnest(ARRAY['US', 'DE', 'CN', 'GB', 'FR', 'IN', 'JP', 'BR', 'NL', 'CA', 'KR', 'RU',
                      'SG', 'AU', 'SE', 'PL', 'IT', 'ES', 'IE', 'null']) c
UNION ALL SELECT 'big', 'file_type', c, false FROM unnest(ARRAY['bdist_wheel', 'sdist']) c
UNION ALL SELECT 'middling', 'overall', '', m FROM (VALUES (false), (true)) v(m)
UNION ALL SELECT 'middling', 'version', '1.' || g, false FROM generate_series(0, 4) g
UNION ALL SELECT 'middling', 'installer', c, false FROM unnest(ARRAY['pip', 'uv', 'null']) c
UNION ALL SELECT 'middling', 'installer', 'bandersnatch', true
UNION ALL SELECT 'middling', 'python_minor', c, false
    FROM unnest(ARRAY['3.10', '3.11', '3.12', '3.13', 'null']) c
UNION ALL SELECT 'middling', 'python_major', '3', false
UNION ALL SELECT 'middling', 'system', c, false FROM unnest(ARRAY['Linux', 'Windows', 'null']) c
UNION ALL SELECT 'middling', 'country', c, false
    FROM unnest(ARRAY['US', 'DE', 'CN', 'GB', 'null']) c
UNION ALL SELECT 'middling', 'file_type', c, false FROM unnest(ARRAY['bdist_wheel', 'sdist']) c
UNION ALL SELECT 'small', 'overall', '', m FROM (VALUES (false), (true)) v(m)
UNION ALL SELECT 'small', d, c, false FROM (VALUES ('version', '1.0'), ('installer', 'pip'),
    ('python_minor', '3.12'), ('python_major', '3'), ('system', 'Linux'), ('country', 'US'),
    ('file_type', 'bdist_wheel')) v(d, c)
UNION ALL SELECT 'small', 'version', '1.0', true;
"""


def services(root: Path) -> tuple[Postgres, Redis]:
    state_file = root / "ports.json"
    if state_file.exists():
        ports = json.loads(state_file.read_text())
    else:
        root.mkdir(parents=True, exist_ok=True)
        ports = {"pg": free_port(), "redis": free_port()}
        state_file.write_text(json.dumps(ports))
    return (
        Postgres(root / "postgres", ports["pg"], fast_and_unsafe=True),
        Redis(root / "redis", ports["redis"]),
    )


def psql(pg: Postgres, sql: str) -> str:
    return pg.psql("warehouse", sql)


def load(pg: Postgres, env: dict) -> None:
    if psql(pg, "SELECT count(*) FROM projects").strip() not in {"", "0"}:
        return
    t = time.perf_counter()
    psql(
        pg,
        "INSERT INTO projects (name, normalized_name, created, last_serial, total_size) "
        "SELECT 'project-' || g, 'project-' || g, now(), 0, 0 "
        "FROM generate_series(0, 99999) g",
    )
    psql(pg, "ALTER TABLE stats_daily_downloads DROP CONSTRAINT stats_daily_downloads_pkey")
    psql(pg, "DROP INDEX IF EXISTS ix_stats_daily_downloads_day")
    first = TODAY - datetime.timedelta(days=364)
    # Day after day, as ingest appends them: a project's days lie on as many pages as in
    # production, not side by side.
    started = time.perf_counter()
    for offset in range(365):
        day = first + datetime.timedelta(days=offset)
        tiers = []
        for tier, low, high in TIERS:
            # About one day in 30 for each small project, a different set of days each.
            on_day = "" if tier != "small" else f" AND p % 30 = {offset % 30}"
            tiers.append(
                f"SELECT 'project-' || p, c.dimension, DATE '{day}', c.category, c.mirror, "
                "1 + (random() * (CASE WHEN c.mirror THEN 50 ELSE 100000 / (p + 1) + 10 END))::int "
                f"FROM generate_series({low}, {high - 1}) p CROSS JOIN bench_categories c "
                f"WHERE c.tier = '{tier}'{on_day}"
            )
        psql(
            pg,
            _CATEGORIES + "INSERT INTO stats_daily_downloads "
            "(project, dimension, day, category, mirror, downloads) " + " UNION ALL ".join(tiers),
        )
        if offset % 30 == 29:
            print(
                f"  {offset + 1} days loaded in {time.perf_counter() - started:.0f} s", flush=True
            )
    started = time.perf_counter()
    psql(
        pg,
        "ALTER TABLE stats_daily_downloads ADD CONSTRAINT stats_daily_downloads_pkey "
        "PRIMARY KEY (project, dimension, day, category, mirror)",
    )
    psql(pg, "CREATE INDEX ix_stats_daily_downloads_day ON stats_daily_downloads USING brin (day)")
    psql(pg, "VACUUM ANALYZE")
    print(f"  indexes and analyze in {time.perf_counter() - started:.0f} s")
    print(f"loaded in {time.perf_counter() - t:.0f} s")


def measure(env: dict, requests: int) -> None:
    """Each project asked three times: "cold", the day's first question (its rows read from
    PostgreSQL, the past days kept in Redis for the day, the whole answer kept until the
    project's next counts); "warm", a repeat (the kept answer); "new counts", the first
    question after the project's next counts (its kept answer forgotten as a batch's commit
    forgets it: today's rows from PostgreSQL, the past from Redis). Wall ms, and the app's
    CPU ms in this process (``time.process_time``, honest on a loaded machine)."""
    from warehouse.stats.services import forget_answers

    client, app = _app(env)
    paths = {
        "/api/packages/<p>/recent": "/api/packages/{}/recent",
        "/api/packages/<p>/overall": "/api/packages/{}/overall",
        "/api/packages/<p>/python_minor": "/api/packages/{}/python_minor",
        "/project/<p>/stats/": "/project/{}/stats/",
        "/project/<p>/stats/?range=all": "/project/{}/stats/?range=all",
    }
    rng = random.Random(7)
    print(f"load average at start: {os.getloadavg()}")
    print(
        "\n| path | projects | cold p50 | cold p95 | new counts p50 | new counts p95 "
        "| warm p50 | warm p95 | warm max | CPU ms p50 cold / new / warm | answer KB |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|"
    )

    def p95(times):
        return sorted(times)[int(len(times) * 0.95) - 1]

    for label, path in paths.items():
        for tier, low, high in TIERS:
            names = [f"project-{rng.randrange(low, high)}" for _ in range(requests)]
            for name in ("project-99999", "project-99998"):  # warm: connections, templates
                app.get(path.format(name))
            times: dict[str, list[float]] = {"cold": [], "warm": [], "new": []}
            cpus: dict[str, list[float]] = {"cold": [], "warm": [], "new": []}
            sizes = []
            for name in names:
                for state in ("cold", "warm", "new"):
                    if state == "new":
                        forget_answers(client, [name])
                    started, cpu = time.perf_counter(), time.process_time()
                    answer = app.get(path.format(name))
                    times[state].append((time.perf_counter() - started) * 1000)
                    cpus[state].append((time.process_time() - cpu) * 1000)
                sizes.append(len(answer.body))
            cpu = " / ".join(f"{statistics.median(cpus[s]):.1f}" for s in ("cold", "new", "warm"))
            print(
                f"| {label} | {tier} | {statistics.median(times['cold']):.1f} | "
                f"{p95(times['cold']):.1f} | {statistics.median(times['new']):.1f} | "
                f"{p95(times['new']):.1f} | {statistics.median(times['warm']):.1f} | "
                f"{p95(times['warm']):.1f} | {max(times['warm']):.1f} | {cpu} | "
                f"{statistics.mean(sizes) / 1024:.0f} |",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")


def _app(env: dict):
    """Redis (emptied: every project starts the day unasked) and the web app, in process."""
    import redis
    import webtest

    from warehouse.config import configure, wsgi_app
    from warehouse.settings import Settings

    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    return client, webtest.TestApp(wsgi_app(configure(Settings.from_env(env))))


# The traffic mix: what people and tools ask the origin for, and how often.
MIX = (
    ("/api/packages/{}/recent", 35),
    ("/api/packages/{}/overall", 20),
    ("/api/packages/{}/python_minor", 10),
    ("/api/packages/{}/system", 5),
    ("/project/{}/stats/", 25),
    ("/project/{}/stats/?range=all", 5),
)


def traffic(env: dict, requests: int, every: int = 100) -> None:
    """A day of questions at the origin (no CDN in front), compressed: projects asked by
    popularity (Zipf over the 100,000 ranks, so the big ones most), paths by ``MIX``, and
    every ``every`` questions a batch of counts lands (``forget_answers`` for 1,000 projects
    drawn by the same popularity, as a minute of downloads would touch them). Every project
    starts the day unasked. Wall ms per path and for the API and the page together."""
    from warehouse.stats.services import forget_answers

    client, app = _app(env)
    rng = random.Random(13)
    ranks = range(100_000)
    weights = [1 / (rank + 1) for rank in ranks]
    paths = [path for path, _ in MIX]
    for name in ("project-99999", "project-99998"):  # connections, templates
        for path in paths:
            app.get(path.format(name))
    client.flushdb()
    times: dict[str, list[float]] = {path: [] for path in paths}
    asked = rng.choices(ranks, weights, k=requests)
    kinds = rng.choices(paths, [weight for _, weight in MIX], k=requests)
    print(f"load average at start: {os.getloadavg()}")
    for number, (rank, path) in enumerate(zip(asked, kinds, strict=True)):
        if number % every == every - 1:
            forget_answers(client, {f"project-{r}" for r in rng.choices(ranks, weights, k=1000)})
        started = time.perf_counter()
        app.get(path.format(f"project-{rank}"))
        times[path].append((time.perf_counter() - started) * 1000)

    def quantile(values, q):
        return sorted(values)[max(0, int(len(values) * q) - 1)]

    print("\n| path | requests | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|")
    groups = {
        **times,
        "API, all paths": [t for p, ts in times.items() if p.startswith("/api") for t in ts],
        "page, 30 days and all": [t for p, ts in times.items() if "stats/" in p for t in ts],
    }
    for label, values in groups.items():
        if values:
            print(
                f"| {label} | {len(values)} | {statistics.median(values):.1f} | "
                f"{quantile(values, 0.95):.1f} | {quantile(values, 0.99):.1f} | "
                f"{max(values):.1f} |"
            )
    distinct = len(set(asked))
    print(f"{distinct:,} distinct projects asked; load average at end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per path and project size")
    parser.add_argument("--stop", action="store_true")
    parser.add_argument(
        "--mix", type=int, metavar="N", help="instead: N questions of a day's traffic mix"
    )
    parser.add_argument(
        "--compact",
        action="store_true",
        help="first rewrite every closed month in key order (warehouse stats compact)",
    )
    args = parser.parse_args()
    pg, redis = services(WORK)
    if args.stop:
        pg.stop()
        redis.stop()
        return
    pg.start()
    redis.start()
    pg.create_database("warehouse")
    env = dict(
        os.environ,
        DATABASE_URL=pg.url("warehouse"),
        REDIS_URL=redis.url(0),
        WAREHOUSE_FILES_PATH=str(WORK / "files"),
        WAREHOUSE_CDN_BACKEND="none",
        WAREHOUSE_LOG_LEVEL="warning",
    )
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "warehouse"), "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    load(pg, env)
    rows = psql(
        pg, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'stats_daily_downloads'"
    )
    size = psql(pg, "SELECT pg_size_pretty(pg_total_relation_size('stats_daily_downloads'))")
    print(f"stats_daily_downloads: ~{int(rows):,} rows, {size.strip()} with indexes")
    if args.compact:
        started = time.perf_counter()
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "warehouse"), "stats", "compact"], env=env, check=True
        )
        psql(pg, "VACUUM ANALYZE stats_daily_downloads")
        size = psql(pg, "SELECT pg_size_pretty(pg_total_relation_size('stats_daily_downloads'))")
        print(f"compacted in {time.perf_counter() - started:.0f} s: {size.strip()} with indexes")
    if args.mix:
        traffic(env, args.mix)
    else:
        measure(env, args.requests)


if __name__ == "__main__":
    main()
