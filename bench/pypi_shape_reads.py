"""Time the read paths of a stack loaded by bench/pypi_shape.py, by hand.

    .venv/bin/python bench/pypi_shape_reads.py --name shape [--project botocore] [--repeat 5]

Reads the stack's ports from $BENCH_WORK/warehouse/<name>/stack.json (bench/stack.py). Every
figure is client-side wall time of one HTTP request to gunicorn on 127.0.0.1 (no CDN):

* cold: Redis flushed just before (no answer cached for the current serial, no rate-limit
  state); PostgreSQL's shared buffers and the OS page cache are NOT dropped (warm disk);
* warm: the median of --repeat requests right after.

``--after-uploads N``: N times, a new version of --project is uploaded (through the stack's
uploads app, as bench/upload_at_size.py does) and its pages are asked once right after: the
first read of a new serial, which no answer kept for the serial can serve (wall ms, p50 and
max). Then the database's size: pg_total_relation_size (heap + TOAST + indexes) of each loaded
table, and per file. Search: --queries words through /search/?q=, p50 and p95, and the time
to reindex one project's search row (the incremental update) in SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
import xmlrpc.client
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import redis  # noqa: E402

TABLES = ("projects", "releases", "release_files", "file_registry", "journals", "project_search")
# The generator's vocabulary, then words in no document (a typo, a word it never writes):
# the planner has no statistics for those, which is where a bad plan hides.
SEARCH_WORDS = ("cloud", "django", "json", "http", "tensor", "auth", "kube", "pdf", "async", "geo")
SEARCH_MISSES = ("qwertyuiop", "alpha", "requestz", "numpyy", "flaskk")


def request(url: str, body: bytes | None = None) -> tuple[float, int, int]:
    headers = {"Content-Type": "text/xml"} if body is not None else {}
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=300) as r:
            size, status = len(r.read()), r.status
    except urllib.error.HTTPError as error:
        size, status = len(error.read()), error.code
    except OSError as error:  # a worker that died mid-request: say so, and go on
        print(f"  ! {url}: {error!r}", flush=True)
        size, status = 0, 0
    return time.perf_counter() - started, status, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="shape")
    parser.add_argument("--project", default="botocore", help="the big project")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--after-uploads", type=int, default=0, metavar="N")
    args = parser.parse_args()
    root = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse" / args.name
    state = json.loads((root / "stack.json").read_text())
    base = state["url"]
    cache = redis.Redis(port=state["redis_port"])
    db = psycopg.connect(f"postgresql://postgres@127.0.0.1:{state['pg_port']}/warehouse")
    db.autocommit = True
    last = db.execute("SELECT max(id) FROM journals").fetchone()[0]
    files_of_project = db.execute(
        "SELECT count(*) FROM release_files f JOIN releases r ON r.id = f.release_id "
        "JOIN projects p ON p.id = r.project_id WHERE p.normalized_name = %s",
        (args.project,),
    ).fetchone()[0]
    print(f"{base}: journal at serial {last:,}; {args.project} has {files_of_project:,} files")

    rpc = lambda method, *params: xmlrpc.client.dumps(params, method).encode()  # noqa: E731
    probes = {
        f"/simple/{args.project}/": (f"/simple/{args.project}/", None),
        f"/project/{args.project}/": (f"/project/{args.project}/", None),
        f"/pypi/{args.project}/json": (f"/pypi/{args.project}/json", None),
        "XML-RPC list_packages_with_serial": ("/pypi", rpc("list_packages_with_serial")),
        "XML-RPC changelog_since_serial(last - 10000)": (
            "/pypi",
            rpc("changelog_since_serial", last - 10_000),
        ),
        "XML-RPC changelog_since_serial(0) (first page)": (
            "/pypi",
            rpc("changelog_since_serial", 0),
        ),
        "/api/changes?since=last-1000": (f"/api/changes?since={last - 1000}&limit=1000", None),
        "/api/changes?since=0": ("/api/changes?since=0", None),
        "/rss/updates.xml": ("/rss/updates.xml", None),
        "/rss/packages.xml": ("/rss/packages.xml", None),
        "/simple/ (root listing)": ("/simple/", None),
    }
    print(f"{'request':48} {'status':>6} {'bytes':>11} {'cold ms':>9} {'warm ms':>9}")
    for label, (path, body) in probes.items():
        cache.flushall()
        cold, status, size = request(base + path, body)
        answered = [request(base + path, body) for _ in range(args.repeat)]
        # A request a dying worker dropped is reported above, not timed.
        warm = statistics.median([t for t, code, _ in answered if code] or [float("nan")])
        print(
            f"{label:48} {status:>6} {size:>11,} {cold * 1000:9.1f} {warm * 1000:9.1f}",
            flush=True,
        )

    if args.after_uploads:
        after_uploads(state, args.project, args.after_uploads)

    timings = []
    for word in SEARCH_WORDS + SEARCH_MISSES:
        for page in (1, 2):
            timings.append(request(f"{base}/search/?q={word}&page={page}")[0])
    timings.sort()
    p95 = timings[max(0, round(len(timings) * 0.95) - 1)]
    print(
        f"search /search/?q=: {len(timings)} requests, p50 {statistics.median(timings) * 1000:.1f}"
        f" ms, p95 {p95 * 1000:.1f} ms, max {timings[-1] * 1000:.1f} ms"
    )

    from warehouse import db as database
    from warehouse.search import indexing

    engine = database.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{state['pg_port']}/warehouse"
    )
    project_id = db.execute(
        "SELECT id FROM projects WHERE normalized_name = %s", (args.project,)
    ).fetchone()[0]
    with database.make_session_factory(engine)() as session, session.begin():
        started = time.perf_counter()
        indexing.reindex_projects(session, [project_id])
        session.flush()
        print(
            f"search incremental update of {args.project}: {(time.perf_counter() - started) * 1000:.1f} ms"
        )
    engine.dispose()

    files = db.execute("SELECT count(*) FROM release_files").fetchone()[0]
    total = 0
    print(f"{'table':16} {'rows':>12} {'total MB':>10} {'bytes/file':>11}")
    for table in TABLES:
        rows, size = db.execute(
            f"SELECT (SELECT count(*) FROM {table}), pg_total_relation_size('{table}')"
        ).fetchone()
        total += size
        print(f"{table:16} {rows:>12,} {size / 1e6:10.1f} {size / files:11.0f}")
    database_size = db.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(f"{'loaded tables':16} {files:>12,} {total / 1e6:10.1f} {total / files:11.0f}")
    print(
        f"{'whole database':16} {'':>12} {database_size / 1e6:10.1f} {database_size / files:11.0f}"
    )


def after_uploads(state: dict, project: str, rounds: int) -> None:
    """The first read of each page right after an upload of ``project`` changed its serial."""
    import secrets
    import tempfile

    import requests

    sys.path.insert(0, str(REPO / "bench"))
    from load_dataset import twine_fields
    from upload_at_size import grant

    from tests.support.artifacts import make_wheel

    grant(f"postgresql+psycopg://postgres@127.0.0.1:{state['pg_port']}/warehouse", [project])
    pages = {
        f"/simple/{project}/": {},
        f"/simple/{project}/ (JSON)": {"Accept": "application/vnd.pypi.simple.v1+json"},
        f"/project/{project}/": {},
        f"/pypi/{project}/json": {},
    }
    times: dict[str, list[float]] = {page: [] for page in pages}
    nonce = int(secrets.token_hex(3), 16)
    with tempfile.TemporaryDirectory() as scratch, requests.Session() as session:
        for number in range(rounds):
            wheel = make_wheel(Path(scratch), project, f"9998.{nonce}.{number}")
            with wheel.open("rb") as content:
                answer = session.post(
                    state["upload_url"],
                    data=twine_fields(wheel),
                    files={"content": (wheel.name, content)},
                    auth=("__token__", state["token"]),
                    timeout=120,
                )
            answer.raise_for_status()
            for page, headers in pages.items():
                started = time.perf_counter()
                session.get(state["url"] + page.split(" ")[0], headers=headers).raise_for_status()
                times[page].append((time.perf_counter() - started) * 1000)
    print(f"first read after an upload of {project} ({rounds} uploads), wall ms:")
    for page, values in times.items():
        print(f"  {page:40} p50 {statistics.median(values):8.1f}  max {max(values):8.1f}")


if __name__ == "__main__":
    main()
