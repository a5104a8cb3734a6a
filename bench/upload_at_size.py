"""Upload latency on a big index, by hand: new releases of its giants and new projects.

    .venv/bin/python bench/upload_at_size.py --stack shape --uploads 200 \
        --projects botocore boto3 awscli

Runs against a ``bench/stack.py`` stack (its uploads app over HTTP, twine's form fields),
typically one filled by ``bench/pypi_shape.py``. The stack's bench user is made an owner of
``--projects`` first (the generator gives projects no owners). Half the uploads are new
versions of those projects (a wheel each), half are wheels of new projects; the uploads go
one after another, as a publisher's would, and the latency of each is timed from the request
to the end of the answer. Prints p50, p99 and max per kind.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from load_dataset import twine_fields  # noqa: E402

from tests.support.artifacts import make_wheel  # noqa: E402

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse"


def grant(database_url: str, projects: list[str]) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO roles (user_id, project_id, role_name)"
                " SELECT u.id, p.id, 'Owner' FROM users u, projects p"
                " WHERE u.username = 'bench' AND p.normalized_name = ANY(:names)"
                " ON CONFLICT DO NOTHING"
            ),
            {"names": projects},
        )
    engine.dispose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="shape")
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--projects", nargs="+", default=["botocore", "boto3", "awscli"])
    args = parser.parse_args()
    state = json.loads((WORK / args.stack / "stack.json").read_text())
    grant(f"postgresql+psycopg://postgres@127.0.0.1:{state['pg_port']}/warehouse", args.projects)
    nonce = secrets.token_hex(3)
    session = requests.Session()
    timings: dict[str, list[float]] = {"giant": [], "new project": []}
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.uploads):
            if i % 2 == 0:
                kind, name = "giant", args.projects[(i // 2) % len(args.projects)]
                version = f"9999.{int(nonce, 16)}.{i}"
            else:
                kind, name, version = "new project", f"sizebench-{nonce}-{i}", "1.0"
            wheel = make_wheel(Path(scratch), name, version)
            data = twine_fields(wheel)
            started = time.perf_counter()
            with wheel.open("rb") as content:
                response = session.post(
                    state["upload_url"],
                    data=data,
                    files={"content": (wheel.name, content)},
                    auth=("__token__", state["token"]),
                    timeout=120,
                )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{wheel.name}: {response.status_code} {response.reason}")
            timings[kind].append(elapsed * 1000)
            wheel.unlink()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for kind, values in timings.items():
        print(
            f"{kind:12} {len(values)} uploads: p50 {statistics.median(values):.1f} ms,"
            f" p99 {percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms"
        )


if __name__ == "__main__":
    main()
