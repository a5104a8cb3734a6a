"""Time XML-RPC ``list_packages_with_serial`` at 100,000 projects, by hand.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/xmlrpc_list_packages.py [--projects 100000] [--url URL]

The database must be migrated and hold no projects (or pass --reuse to time what is there).
Projects and one journal entry each are inserted with COPY; then the call is timed through the
whole WSGI app in this process (or, with --url, against a running server):

* cold:  nothing cached for the current serial: one query, marshal, store;
* redis: a fresh process whose answer comes from Redis;
* warm:  the same process again (its one-slot cache).

Client-side parsing (xmlrpc.client.loads) is timed separately: it is not the server's time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request
import xmlrpc.client
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import webtest  # noqa: E402

from warehouse.config import configure, wsgi_app  # noqa: E402
from warehouse.settings import Settings  # noqa: E402

BODY = xmlrpc.client.dumps((), "list_packages_with_serial").encode()


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def insert_projects(url: str, count: int) -> None:
    with psycopg.connect(libpq_url(url)) as connection, connection.cursor() as cursor:
        if cursor.execute("SELECT count(*) FROM projects").fetchone()[0]:
            sys.exit("the projects table is not empty: use an empty database, or --reuse")
        start = cursor.execute("SELECT coalesce(max(id), 0) FROM journals").fetchone()[0]
        with cursor.copy("COPY journals (id, name, action, submitted_date) FROM STDIN") as copy:
            for n in range(count):
                copy.write_row((start + n + 1, f"Project-{n}", "create", "now"))
        with cursor.copy(
            "COPY projects (name, normalized_name, created, last_serial, total_size) FROM STDIN"
        ) as copy:
            for n in range(count):
                copy.write_row((f"Project-{n}", f"project-{n}", "now", start + n + 1, 0))
        cursor.execute("ANALYZE projects")
        cursor.execute("ANALYZE journals")


def in_process_app(settings: Settings) -> webtest.TestApp:
    config = configure(settings)
    config.include("warehouse.xmlrpc")
    return webtest.TestApp(wsgi_app(config))


def timed_post(post) -> tuple[float, bytes]:
    started = time.perf_counter()
    body = post()
    return time.perf_counter() - started, body


def run_in_process(settings: Settings, repeat: int) -> dict[str, list[float]]:
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter("xmlrpc:list_packages_with_serial:*"):
        client.delete(key)

    def post(app):
        return lambda: app.post("/pypi", BODY, headers={"Content-Type": "text/xml"}).body

    timings: dict[str, list[float]] = {"cold": [], "redis": [], "warm": []}
    for _ in range(repeat):
        for key in client.scan_iter("xmlrpc:list_packages_with_serial:*"):
            client.delete(key)
        app = in_process_app(settings)
        app.post("/pypi", xmlrpc.client.dumps((), "changelog_last_serial").encode())  # connect
        timings["cold"].append(timed_post(post(app))[0])
        timings["redis"].append(timed_post(post(in_process_app(settings)))[0])
        timings["warm"].append(timed_post(post(app))[0])
    return timings


def run_against(url: str, repeat: int) -> dict[str, list[float]]:
    def post():
        request = urllib.request.Request(url, BODY, {"Content-Type": "text/xml"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    return {"http": [timed_post(post)[0] for _ in range(repeat)]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="time the projects already there")
    parser.add_argument("--url", help="time a running server's /pypi instead of in-process")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = Settings.from_env()

    if not args.reuse:
        started = time.perf_counter()
        insert_projects(settings.database_url, args.projects)
        print(f"inserted {args.projects} projects in {time.perf_counter() - started:.1f}s")

    if args.url:
        timings = run_against(args.url, args.repeat)
        body = urllib.request.urlopen(
            urllib.request.Request(args.url, BODY, {"Content-Type": "text/xml"})
        ).read()
    else:
        timings = run_in_process(settings, args.repeat)
        body = in_process_app(settings).post("/pypi", BODY).body

    started = time.perf_counter()
    (listed,), _ = xmlrpc.client.loads(body)
    parse_seconds = time.perf_counter() - started
    print(f"response: {len(body) / 1e6:.1f} MB, {len(listed)} projects")
    for label, values in timings.items():
        print(
            f"{label:>6}: median {statistics.median(values) * 1000:7.1f} ms, "
            f"max {max(values) * 1000:7.1f} ms over {len(values)} calls"
        )
    print(f"client-side xmlrpc.client.loads: {parse_seconds * 1000:.0f} ms (not server time)")


if __name__ == "__main__":
    main()
