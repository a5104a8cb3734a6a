"""Time (and profile) uploads in-process against a bench/stack.py origin's database, by hand.

    .venv/bin/python bench/profile_upload.py FILE_LIST [--stack prof] [--profile cumulative]

FILE_LIST names one artifact a line (e.g. lines of a harness corpus's upload-files.txt) that
the stack does not hold yet. Each is posted through webtest with the form fields twine itself
builds, so the figure is the app's own cost per upload, without HTTP or twine. The first four
uploads warm the imports and caches and are not counted.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", type=Path)
    parser.add_argument("--stack", default="prof")
    parser.add_argument("--profile", help="print a cProfile sorted by this key")
    parser.add_argument(
        "--statements", action="store_true", help="print each SQL statement's count and time"
    )
    args = parser.parse_args()
    state = json.loads((WORK / args.stack / "stack.json").read_text())
    os.environ.update(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{state['pg_port']}/warehouse",
        REDIS_URL=f"redis://127.0.0.1:{state['redis_port']}/0",
        WAREHOUSE_FILES_PATH=str(WORK / args.stack / "files"),
        WAREHOUSE_LOG_LEVEL="warning",
    )
    sys.path.insert(0, str(REPO))
    import webtest
    from load_dataset import twine_fields

    from warehouse.wsgi import application

    app = webtest.TestApp(application)
    auth = "Basic " + base64.b64encode(f"__token__:{state['token']}".encode()).decode()
    forms = [(Path(line), twine_fields(Path(line))) for line in args.files.read_text().split()]

    def upload(items) -> None:
        for path, fields in items:
            response = app.post(
                "/legacy/",
                params=fields,
                upload_files=[("content", path.name, path.read_bytes())],
                headers={"Authorization": auth},
                expect_errors=True,
            )
            if response.status_int != 200:
                raise SystemExit(f"{path.name}: {response.status}")

    upload(forms[:4])
    statements = time_statements() if args.statements else None
    # CPU time, not wall time: what the code costs, whatever else the machine runs.
    profile = cProfile.Profile(time.process_time)
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.profile:
        profile.enable()
    upload(forms[4:])
    profile.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    count = len(forms) - 4
    print(
        f"{count} uploads in {elapsed:.2f} s: {1000 * elapsed / count:.1f} ms each, "
        f"{1000 * cpu / count:.1f} ms of this process's CPU each"
    )
    if args.profile:
        pstats.Stats(profile).sort_stats(args.profile).print_stats(
            os.environ.get("PROFILE_FILTER", ""), 60
        )
    if statements is not None:
        uploads = len(forms) - 4
        print("calls/upload  ms/upload  ms/call  statement")
        for text, (calls, seconds) in sorted(statements.items(), key=lambda kv: -kv[1][1]):
            print(
                f"{calls / uploads:12.2f} {1000 * seconds / uploads:10.2f} "
                f"{1000 * seconds / calls:8.2f}  {' '.join(text.split())[:150]}"
            )


def time_statements() -> dict[str, list]:
    """Wall time of every SQL statement by its text (the engine's events), from now on."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    totals: dict[str, list] = {}

    @event.listens_for(Engine, "before_cursor_execute")
    def started(conn, cursor, statement, parameters, context, executemany):
        conn.info["statement_started"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def finished(conn, cursor, statement, parameters, context, executemany):
        entry = totals.setdefault(statement, [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - conn.info.pop("statement_started")

    return totals


if __name__ == "__main__":
    main()
