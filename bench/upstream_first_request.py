"""First request of a mirrored file through us, against the upstream's own time, by hand.

    .venv/bin/python bench/upstream_first_request.py --files 30 --size 1048576

Starts a throwaway PostgreSQL and Redis, a static PEP 503 folder on loopback as the upstream
(``on_demand``), and the app in this process (its WSGI entry, ``warehouse.config.wsgi_app``,
without gunicorn) behind a plain HTTP server on loopback (wsgiref, so the client's time ends
with the last byte, as a real client's does, not when the server finishes with the request).
For each file: the upstream's own time for it (a plain GET of its URL), then our first
request (fetch, verify, store, serve) and our second (a stored file). The overhead is first
minus upstream, per file; the issue's target is 20 ms. A large file's first answer streams
and is kept in the archive after its last byte: the bench waits for that before the second
request and reports how long after the first request's end it came. ``--in-process`` calls the app through
WebTest instead (the time then includes what runs after the response is sent).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import http.server
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wsgiref.simple_server
from pathlib import Path

import requests
import webtest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devstack.services import Postgres, Redis, free_port  # noqa: E402


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class QuietWSGI(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--profile", action="store_true", help="cProfile the first requests")
    parser.add_argument(
        "--in-process", action="store_true", help="WebTest, not HTTP: includes after-response work"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-upstream-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user
    pg = Postgres(work / "pg", free_port(), fast_and_unsafe=True)
    redis = Redis(work / "redis", free_port())
    pg.start()
    redis.start()
    server = None
    try:
        pg.create_database("warehouse")
        env = {**os.environ, "DATABASE_URL": pg.url("warehouse"), "REDIS_URL": redis.url(0)}
        subprocess.run(
            [REPO / ".venv/bin/warehouse", "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
        )
        root = work / "upstream"
        (root / "files").mkdir(parents=True)
        (root / "simple" / "bench-lazy").mkdir(parents=True)
        links = []
        for i in range(args.files):
            name = f"bench_lazy-1.{i}.tar.gz"
            data = os.urandom(args.size)
            (root / "files" / name).write_bytes(data)
            links.append(
                f'<a href="../../files/{name}#sha256={hashlib.sha256(data).hexdigest()}">{name}</a>'
            )
        (root / "simple" / "bench-lazy" / "index.html").write_text("<br/>".join(links))
        (root / "simple" / "index.html").write_text('<a href="bench-lazy/">bench-lazy</a>')
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        upstream_url = f"http://127.0.0.1:{server.server_address[1]}/simple/"

        import redis as redis_lib

        from warehouse.config import configure, wsgi_app
        from warehouse.settings import Settings
        from warehouse.upstreams.services import add_upstream

        settings = Settings(
            database_url=pg.url("warehouse"),
            redis_url=redis.url(0),
            files_path=str(work / "files"),
            log_format="json",
        )
        config = configure(settings, **{"redis.client": redis_lib.Redis.from_url(redis.url(0))})
        ctx = config.registry["tasks.context"]
        with ctx.session() as session:
            add_upstream(session, settings, name="bench", url=upstream_url)
        app = webtest.TestApp(wsgi_app(config))
        page = app.get(
            "/simple/bench-lazy/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        ).json
        if args.in_process:
            get = lambda path: app.get(path).body  # noqa: E731
        else:
            front = wsgiref.simple_server.make_server(
                "127.0.0.1", 0, wsgi_app(config), handler_class=QuietWSGI
            )
            threading.Thread(target=front.serve_forever, daemon=True).start()
            ours = requests.Session()
            base = f"http://127.0.0.1:{front.server_address[1]}"
            get = lambda path: ours.get(base + path).content  # noqa: E731
        upstream, first, second, kept = [], [], [], []
        profiler = cProfile.Profile() if args.profile else None
        http_session = requests.Session()
        for f in page["files"]:
            path = f["url"].removeprefix("http://localhost")
            start = time.perf_counter()
            direct = upstream_url.replace("/simple/", f"/files/{f['filename']}")
            assert len(http_session.get(direct).content) == args.size
            upstream.append(time.perf_counter() - start)
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            body = get(path)
            if profiler is not None:
                profiler.disable()
            ended = time.perf_counter()
            first.append(ended - start)
            assert len(body) == args.size
            # A streamed first answer may end before the blob is kept (the fetching thread
            # stores it after the last byte): wait for it, so the second request is a stored
            # file's, and note when it was kept.
            key = path.removeprefix("/packages/")
            while not ctx.archive.exists(key):
                time.sleep(0.0005)
            kept.append(time.perf_counter() - ended)
            start = time.perf_counter()
            assert get(path) == body
            second.append(time.perf_counter() - start)
        overhead = [(a - b) * 1000 for a, b in zip(first, upstream, strict=True)]
        ms = lambda xs: f"{statistics.median(xs) * 1000:.1f}"  # noqa: E731
        print(
            f"files: {args.files} x {args.size} bytes, {'in process' if args.in_process else 'over HTTP'}"
        )
        print(f"upstream GET median ms: {ms(upstream)}")
        print(f"first request through us median ms: {ms(first)}")
        print(
            f"overhead median ms: {statistics.median(overhead):.1f}, "
            f"p90 {sorted(overhead)[int(0.9 * len(overhead))]:.1f}"
        )
        print(f"kept in the archive, after the first request's end, median ms: {ms(kept)}")
        print(f"second request (stored) median ms: {ms(second)}")
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    finally:
        if server is not None:
            server.shutdown()
        redis.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)  # the upstream's files: up to hundreds of MB


if __name__ == "__main__":
    main()
