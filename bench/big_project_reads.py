"""Time a big project's pages and the XML-RPC change log in process, on a loaded database.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/warehouse REDIS_URL=redis://... \\
        WAREHOUSE_FILES_PATH=/tmp/shape-files PYTHONPATH=<tree> \\
        .venv/bin/python bench/big_project_reads.py /project/botocore/ \\
        /project/botocore/history/ rpc:0 rpc:1412425

Meant for the database bench/pypi_shape.py fills (its PostgreSQL started alone). Each path is
asked four times through the WSGI app (webtest, no network); ``rpc:N`` posts XML-RPC
``changelog_since_serial(N)`` three times. Prints the first request's wall and CPU ms, then
the others'. Point PYTHONPATH at another checkout to compare two versions of the code on the
same data. Run by hand; results go in bench/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
import xmlrpc.client

import webtest

from warehouse.config import make_wsgi_app
from warehouse.settings import Settings


def timed(app: webtest.TestApp, target: str, times: int) -> list[tuple[float, float, int]]:
    results = []
    for _ in range(times):
        wall, cpu = time.perf_counter(), time.process_time()
        if target.startswith("rpc:"):
            body = xmlrpc.client.dumps((int(target[4:]),), "changelog_since_serial").encode()
            response = app.post("/pypi", body, headers={"Content-Type": "text/xml"})
        else:
            response = app.get(target)
        results.append(
            (
                (time.perf_counter() - wall) * 1000,
                (time.process_time() - cpu) * 1000,
                len(response.body),
            )
        )
    return results


def main(targets: list[str]) -> None:
    app = webtest.TestApp(make_wsgi_app(Settings.from_env()))
    for target in targets:
        results = timed(app, target, 3 if target.startswith("rpc:") else 4)
        first, rest = results[0], results[1:]
        print(
            f"{target}: first {first[0]:.0f} ms wall, {first[1]:.0f} ms CPU; then wall "
            f"{[round(r[0]) for r in rest]} CPU {[round(r[1]) for r in rest]}; {first[2]:,} bytes",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
