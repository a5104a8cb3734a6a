"""Run a warehouse origin (PostgreSQL, Redis, gunicorn) for benchmarks, by hand.

    .venv/bin/python bench/stack.py start --name main --port 18190   # prints URLs, TOKEN, PIDs
    .venv/bin/python bench/stack.py stop  --name main

Each named stack has its own database, Redis and files under $BENCH_WORK/warehouse/<name>/, so
the N=1000 corpus and the N=20000 root-listing corpus can be served side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devstack.services import (  # noqa: E402
    Postgres,
    Redis,
    _wait_for_port,
    app_commands,
    ensure_port_free,
    free_port,
)

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse"
VENV_BIN = REPO / ".venv" / "bin"


def stack_dir(name: str) -> Path:
    return WORK / name


def start(name: str, port: int, workers: int | None) -> dict:
    root = stack_dir(name)
    root.mkdir(parents=True, exist_ok=True)
    state_file = root / "stack.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    # The uploads app answers on port + 2. The web workers bind with SO_REUSEPORT: a stack
    # left running would share the port rather than fail to start.
    uploads_port = port + 2
    for what, app_port in (("the web app", port), ("the uploads app", uploads_port)):
        ensure_port_free(app_port, what)
    pg = Postgres(root / "postgres", state.get("pg_port") or free_port(), fast_and_unsafe=True)
    redis = Redis(root / "redis", state.get("redis_port") or free_port())
    pg.start()
    redis.start()
    pg.create_database("warehouse")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=pg.url("warehouse"),
        REDIS_URL=redis.url(0),
        WAREHOUSE_FILES_PATH=str(root / "files"),
        WAREHOUSE_BIND=f"127.0.0.1:{port}",
        WAREHOUSE_LOG_LEVEL="warning",
    )
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    subprocess.run(
        [str(VENV_BIN / "warehouse"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    if "token" not in state:
        subprocess.run(
            [
                str(VENV_BIN / "warehouse"),
                "user",
                "create",
                "bench",
                "--email",
                "bench@example.com",
                "--password",
                "bench-password",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        state["token"] = subprocess.run(
            [str(VENV_BIN / "warehouse"), "token", "create", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    log = open(root / "gunicorn.log", "ab")
    # The same commands as make serve's two apps.
    commands = app_commands(env, web_port=port, uploads_port=uploads_port, state=root)
    pids = {}
    for name, app_port in (("web", port), ("uploads", uploads_port)):
        app = subprocess.Popen(
            commands[name], env=env, stdout=log, stderr=log, start_new_session=True
        )
        pids[name] = app.pid
        # As make serve waits for them.
        _wait_for_port(app_port, 120, f"gunicorn ({name})", root / "gunicorn.log")
    state.update(
        pg_port=pg.port,
        redis_port=redis.port,
        port=port,
        gunicorn_pid=pids["web"],
        uploads_pid=pids["uploads"],
        url=f"http://127.0.0.1:{port}",
        upload_url=f"http://127.0.0.1:{uploads_port}/legacy/",
    )
    state_file.write_text(json.dumps(state, indent=2))
    return state


def stop(name: str) -> None:
    root = stack_dir(name)
    state = json.loads((root / "stack.json").read_text())
    for pid in (state.get("gunicorn_pid"), state.get("uploads_pid")):
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    Redis(root / "redis", state["redis_port"]).stop()
    Postgres(root / "postgres", state["pg_port"]).stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--name", default="main")
    parser.add_argument("--port", type=int, default=18190)
    parser.add_argument(
        "--workers", type=int, default=None, help="web app workers (default: as in production)"
    )
    args = parser.parse_args()
    if args.command == "start":
        state = start(args.name, args.port, args.workers)
        print(
            f"URL {state['url']}\nUPLOAD_URL {state['upload_url']}\nTOKEN {state['token']}\n"
            f"PID {state['gunicorn_pid']},{state['uploads_pid']}"
        )
    else:
        stop(args.name)


if __name__ == "__main__":
    main()
