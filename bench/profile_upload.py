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
    profile = cProfile.Profile()
    started = time.perf_counter()
    if args.profile:
        profile.enable()
    upload(forms[4:])
    profile.disable()
    elapsed = time.perf_counter() - started
    print(
        f"{len(forms) - 4} uploads in {elapsed:.2f} s: {1000 * elapsed / (len(forms) - 4):.1f} ms each"
    )
    if args.profile:
        pstats.Stats(profile).sort_stats(args.profile).print_stats(40)


if __name__ == "__main__":
    main()
