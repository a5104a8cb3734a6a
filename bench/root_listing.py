"""The ``/simple/`` root listing at PyPI's size: whole render vs chunks, by hand.

    BENCH_WORK=/tmp/bench-rootlist .venv/bin/python bench/stack.py start --name rootlist \\
        --port 18740 --workers 2
    BENCH_WORK=/tmp/bench-rootlist .venv/bin/python bench/root_listing.py --stack rootlist \\
        --projects 700000

Loads the projects with COPY if the stack has none (as bench/xmlrpc_list_packages.py does),
then, against the stack's gunicorn web workers:

* before: the chunks are dropped (the listing reads as never built, so it is rendered whole,
  as on main) and the rendered pages are dropped from Redis (as a new serial does): each
  form is fetched once; time to the first body byte, to the end, and the workers' CPU and RSS;
* the build of every chunk (once, after a deploy);
* CPU per change: journaled changes made in this process through the session machinery every
  writer uses (warehouse.effects), timing the one reaction that maintains the chunks;
* after: each form fetched right after a change, the same figures as before;
* freshness: a wheel uploaded over HTTP to the stack's uploads app, then /simple/ polled until
  it lists the project;
* that the streamed listing at this size is byte-identical to a full render.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import redis as redis_lib  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse"
V1_JSON = "application/vnd.pypi.simple.v1+json"
FORMS = [("html", "text/html", False), ("html", "text/html", True)]
FORMS += [("json", V1_JSON, False), ("json", V1_JSON, True)]
TICKS = os.sysconf("SC_CLK_TCK")


def workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fetch(port: int, accept: str, gzipped: bool) -> dict:
    """One GET of /simple/: seconds to the headers, to the first body byte, to the end."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request(
        "GET",
        "/simple/",
        headers={"Accept": accept, "Accept-Encoding": "gzip" if gzipped else "identity"},
    )
    response = connection.getresponse()
    headers_at = time.perf_counter() - started
    first = response.read1(65536)
    first_byte_at = time.perf_counter() - started
    size = len(first)
    inflater = zlib.decompressobj(wbits=31) if gzipped else None
    body = [inflater.decompress(first) if inflater else first]
    while block := response.read1(1 << 20):
        size += len(block)
        body.append(inflater.decompress(block) if inflater else block)
    done_at = time.perf_counter() - started
    connection.close()
    if inflater is not None:
        assert inflater.eof and not inflater.unused_data, "not one complete gzip member"
    return {
        "status": response.status,
        "serial": int(response.headers["X-PyPI-Last-Serial"]),
        "headers_s": headers_at,
        "first_byte_s": first_byte_at,
        "total_s": done_at,
        "bytes": size,
        "body": b"".join(body),
    }


def measure_forms(port: int, master: int, label: str, before_each=None) -> list[dict]:
    rows = []
    for fmt, accept, gzipped in FORMS:
        if before_each is not None:
            before_each()
        pids = workers(master)
        rss_before = {pid: rss_mib(pid) for pid in pids}
        cpu_before = cpu_seconds(pids)
        result = fetch(port, accept, gzipped)
        cpu = cpu_seconds(pids) - cpu_before
        growth = max(rss_mib(pid) - rss_before[pid] for pid in pids)
        row = {
            "phase": label,
            "form": f"{fmt}{' gzip' if gzipped else ''}",
            "bytes": result["bytes"],
            "first_byte_ms": round(1000 * result["first_byte_s"], 1),
            "total_ms": round(1000 * result["total_s"], 1),
            "workers_cpu_s": round(cpu, 2),
            "worker_rss_mib": round(max(rss_mib(pid) for pid in pids), 1),
            "rss_growth_mib": round(growth, 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="rootlist")
    parser.add_argument("--projects", type=int, default=700_000)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--skip-before", action="store_true")
    args = parser.parse_args()
    state = json.loads((WORK / args.stack / "stack.json").read_text())
    database_url = f"postgresql://postgres@127.0.0.1:{state['pg_port']}/warehouse"
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{state['redis_port']}/0",
        WAREHOUSE_FILES_PATH=str(WORK / args.stack / "files"),
        WAREHOUSE_LOG_LEVEL="warning",
    )
    from xmlrpc_list_packages import insert_projects

    from tests.support.factories import create_project, create_release
    from warehouse import db
    from warehouse.api import root_listing, simple
    from warehouse.api.cache import snapshot_session
    from warehouse.packaging.models import Project

    engine = db.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    sessions = db.make_session_factory(engine)
    redis = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    port, master = state["port"], state["gunicorn_pid"]

    with engine.connect() as connection:
        existing = connection.scalar(sa.text("SELECT count(*) FROM projects"))
    if existing == 0:
        started = time.perf_counter()
        insert_projects(database_url, args.projects)
        print(f"loaded {args.projects} projects in {time.perf_counter() - started:.1f} s")

    def forget_rendered_pages():
        # As a new serial does: the whole pages rendered for the old one are no use.
        for key in redis.scan_iter("simple-index:*"):
            redis.delete(key)

    results: dict = {"before": [], "after": []}
    if not args.skip_before:
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM root_listing_chunks"))
        results["before"] = measure_forms(port, master, "before", forget_rendered_pages)

    with sessions() as session:
        started, cpu = time.perf_counter(), time.process_time()
        root_listing.rebuild_locked(session)
        session.commit()
        build = (time.perf_counter() - started, time.process_time() - cpu)
        chunks = session.scalar(sa.text("SELECT count(*) FROM root_listing_chunks"))
    print(f"build: {chunks} chunks, {build[0]:.1f} s wall, {build[1]:.1f} s CPU of this process")

    # CPU per change: the reaction that maintains the chunks, timed inside real commits.
    timings: list[tuple[float, float]] = []
    update = root_listing.update

    def timed_update(session, names):
        wall, cpu = time.perf_counter(), time.process_time()
        update(session, names)
        timings.append((time.process_time() - cpu, time.perf_counter() - wall))

    root_listing.update = timed_update
    rng = random.Random(0)
    with sessions() as session:
        ids = session.scalars(sa.select(Project.id).order_by(Project.id)).all()
        for n in range(args.changes):
            if n % 4 == 3:
                create_project(session, f"rootlist-new-{os.getpid()}-{n}")
            else:
                project = session.get(Project, rng.choice(ids))
                create_release(session, project, f"1.{n}", files=())
            session.expunge_all()
    root_listing.update = update
    cpu_ms = sorted(1000 * c for c, _ in timings)
    wall_ms = sorted(1000 * w for _, w in timings)
    per_change = {
        "changes": len(timings),
        "cpu_ms_median": round(statistics.median(cpu_ms), 1),
        "cpu_ms_p95": round(cpu_ms[int(0.95 * (len(cpu_ms) - 1))], 1),
        "cpu_ms_max": round(cpu_ms[-1], 1),
        "wall_ms_median": round(statistics.median(wall_ms), 1),
        "wall_ms_max": round(wall_ms[-1], 1),
    }
    print("per change:", json.dumps(per_change), flush=True)

    results["after"] = measure_forms(port, master, "after")

    # Freshness: a real upload, then the listing polled until it names the project.
    from load_dataset import upload_one

    from tests.support.artifacts import make_wheel

    freshness = []
    with tempfile.TemporaryDirectory() as tmp, requests.Session() as http:
        for n in range(args.uploads):
            name = f"rootlist-fresh-{os.getpid()}-{n}"
            wheel = make_wheel(Path(tmp), name, "1.0")
            upload_one(http, state["upload_url"], state["token"], wheel)
            uploaded = time.perf_counter()
            polls = 0
            while True:
                polls += 1
                body = fetch(port, V1_JSON, True)["body"]
                if f'"name":"{name}"'.encode() in body:
                    break
            freshness.append((time.perf_counter() - uploaded, polls))
    print(
        "freshness after an upload (s, polls):",
        [(round(s, 2), p) for s, p in freshness],
        flush=True,
    )

    # Byte-identical to a full render at this size.
    for fmt, accept, gzipped in FORMS:
        streamed = fetch(port, accept, gzipped)
        with snapshot_session(engine) as session:
            serial = simple.journal.last_serial(session)
            full = simple._render_index(fmt)(session, serial)
        same = streamed["serial"] == serial and streamed["body"] == full
        print(f"{fmt}{' gzip' if gzipped else ''}: identical to a full render: {same}")


if __name__ == "__main__":
    main()
