"""What each read cache layer is worth: one stack's project pages read at the origin with and
without the front's answer memo, and through the CDN (Varnish with our VCL), side by side.

    .venv/bin/python bench/stack.py start --name layers --port 18190    # prints TOKEN
    .venv/bin/python bench/load_dataset.py /tmp/bench/data/N1000-M3 \
        --upload http://127.0.0.1:18192/legacy/ --token $TOKEN
    .venv/bin/python bench/read_layers.py --stack layers [--peer devpi=http://127.0.0.1:18182/root/bench/+simple/]

It starts a second web app on the stack's database, Redis and files with
``WAREHOUSE_ANSWER_MEMO=0`` (port + 3), and Varnish with ``config/varnish/default.vcl`` in
front of the first (port + 4), then runs wrk (``../shared/bench/wrk_random.lua``: a random
project page per request) against each target in turn, round after round, so that the
machine's noise falls on all of them alike. Prints a markdown table: req/s median [min–max]
and p50 / p99 in ms, and each target's per-round ratio to the origin with the memo.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devstack.services import (  # noqa: E402
    Postgres,
    Redis,
    Varnish,
    _wait_for_port,
    app_commands,
)

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse"
WRK_SCRIPT = REPO.parent / "shared" / "bench" / "wrk_random.lua"
ACCEPT = {
    "html": "application/vnd.pypi.simple.v1+html",
    "json": "application/vnd.pypi.simple.v1+json",
}


def stack_env(root: Path, state: dict) -> dict[str, str]:
    """The environment bench/stack.py gave the stack's apps."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=Postgres(root / "postgres", state["pg_port"]).url("warehouse"),
        REDIS_URL=Redis(root / "redis", state["redis_port"]).url(0),
        WAREHOUSE_FILES_PATH=str(root / "files"),
        WAREHOUSE_LOG_LEVEL="warning",
    )
    return env


def project_names(origin: str, limit: int) -> list[str]:
    request = urllib.request.Request(origin + "/simple/", headers={"Accept": ACCEPT["json"]})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return [p["name"] for p in json.load(answer)["projects"]][:limit]


def wrk(url: str, paths_file: Path, accept: str, seconds: int, connections: int) -> dict:
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(WRK_SCRIPT),
            url,
            "--",
            str(paths_file),
            accept,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"WRKJSON (\{.*\})", result.stdout)
    figures = json.loads(found.group(1))
    errors = sum(figures[k] for k in figures if k.startswith("err_"))
    return {
        "rps": figures["requests"] / (figures["duration_us"] / 1e6),
        "p50_ms": figures["lat_p50_us"] / 1000,
        "p99_ms": figures["lat_p99_us"] / 1000,
        "errors": errors,
    }


def warm(origin: str, paths: list[str], accept: str) -> None:
    for path in paths:
        request = urllib.request.Request(origin + path, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="layers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--peer", action="append", default=[], help="NAME=URL of a /simple/ root")
    parser.add_argument("--out", type=Path, help="write the raw figures as JSON here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: bash ../shared/bench/setup.sh installs it")

    root = WORK / args.stack
    state = json.loads((root / "stack.json").read_text())
    env = stack_env(root, state)
    port = state["port"]
    memo_off_port, cdn_port = port + 3, port + 4
    uploads_port = int(state["upload_url"].rsplit(":", 1)[1].split("/")[0])

    log = open(root / "read_layers.log", "ab")
    command = app_commands(env, web_port=memo_off_port, uploads_port=uploads_port, state=root)
    memo_off = subprocess.Popen(
        command["web"],
        env={**env, "WAREHOUSE_ANSWER_MEMO": "0"},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    varnish = Varnish(root / "varnish", cdn_port, port, uploads_port)
    try:
        _wait_for_port(memo_off_port, 30, "the web app without the memo", root / "read_layers.log")
        varnish.start()
        # Each target: its origin and the path of its /simple/ root.
        targets = {
            "origin, memo": (f"http://127.0.0.1:{port}", "/simple/"),
            "origin, no memo": (f"http://127.0.0.1:{memo_off_port}", "/simple/"),
            "CDN (Varnish)": (f"http://127.0.0.1:{cdn_port}", "/simple/"),
        }
        for peer in args.peer:
            name, _, url = peer.partition("=")
            scheme, _, host, path = url.split("/", 3)
            targets[name] = (f"{scheme}//{host}", "/" + path.rstrip("/") + "/")
        names = project_names(targets["origin, memo"][0], args.projects)
        results: dict = {kind: {name: [] for name in targets} for kind in ACCEPT}
        with tempfile.TemporaryDirectory() as scratch:
            files = {}
            for number, (name, (_, simple)) in enumerate(targets.items()):
                files[name] = Path(scratch) / f"{number}.txt"
                files[name].write_text("".join(f"{simple}{n}/\n" for n in names))
            for kind, accept in ACCEPT.items():
                for name, (origin, _) in targets.items():
                    warm(origin, files[name].read_text().split(), accept)
                for _ in range(args.rounds):
                    for name, (origin, _) in targets.items():
                        results[kind][name].append(
                            wrk(origin, files[name], accept, args.seconds, args.connections)
                        )
    finally:
        varnish.stop()
        os.killpg(memo_off.pid, signal.SIGTERM)
        memo_off.wait(timeout=30)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(report(results, args))


def report(results: dict, args) -> str:
    lines = [
        f"{args.rounds} rounds of {args.seconds} s at -c{args.connections}, "
        f"{args.projects} projects, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        "| page | target | req/s median [min–max] | p50 / p99 ms | ratio to origin+memo "
        "(per-round median) | errors |",
        "|---|---|---|---|---|---|",
    ]
    for kind, by_target in results.items():
        reference = [r["rps"] for r in by_target["origin, memo"]]
        for name, runs in by_target.items():
            rps = [r["rps"] for r in runs]
            ratios = [a / b for a, b in zip(rps, reference, strict=True)]
            lines.append(
                f"| {kind} | {name} | {statistics.median(rps):,.0f} [{min(rps):,.0f}–"
                f"{max(rps):,.0f}] | {statistics.median(r['p50_ms'] for r in runs):.2f} / "
                f"{statistics.median(r['p99_ms'] for r in runs):.2f} | "
                f"×{statistics.median(ratios):.2f} | {sum(r['errors'] for r in runs)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
