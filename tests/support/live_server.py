"""The app served by real gunicorn, for tests that drive unmodified clients (twine, pip, uv).

The server gets its own database in the session's PostgreSQL cluster, because other tests
truncate the ``warehouse`` database between tests, and its own Redis server, because the
``redis_client`` fixture runs FLUSHALL (which would empty every Redis database number).
Users and tokens are made by running the real ``warehouse`` CLI: that is part of what the
interop tests prove.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pytest

from devstack.services import Redis, free_ports
from warehouse.settings import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
DATABASE = "warehouse_interop"
# Importing the app (gunicorn preloads it) takes a few seconds, but more than 20 when the whole
# suite runs on two busy cores. A server that crashes is reported as soon as it exits.
STARTUP_TIMEOUT = 120.0
# The venv has no .pyc files and PYTHONDONTWRITEBYTECODE is set, so every CLI, gunicorn or
# client process would compile its imports again (a second or more each on a busy machine).
# Subprocesses keep their bytecode here instead: outside the venv, shared across sessions.
PYCACHE = Path(tempfile.gettempdir()) / "warehouse-interop-pycache"


@dataclasses.dataclass
class LiveServer:
    """The two apps as production runs them: web (ASGI) at ``url``, uploads at ``upload_url``.

    The CDN sends ``/legacy/`` to the uploads app in production; here clients are pointed at
    ``upload_url`` directly.
    """

    url: str
    upload_url: str
    env: dict[str, str]
    log: Path
    processes: list[subprocess.Popen] = dataclasses.field(default_factory=list)

    def cli(self, *args: str) -> str:
        """Run ``warehouse ARGS`` against the live server's database; return its stdout."""
        result = subprocess.run(
            [str(VENV_BIN / "warehouse"), *args], env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise AssertionError(
                f"warehouse {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def create_user(self, username: str) -> str:
        password = secrets.token_urlsafe(16)
        self.cli(
            "user", "create", username, "--email", f"{username}@example.com", "--password", password
        )
        return password

    def create_token(
        self, username: str, projects: Iterable[str] = (), expires: int | None = None
    ) -> str:
        args = ["token", "create", username]
        for project in projects:
            args += ["--project", project]
        if expires is not None:
            args += ["--expires", str(expires)]
        return self.cli(*args).strip()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _wait_until_healthy(server: LiveServer, process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/_health/", timeout=1) as response:
                if response.status == 200:
                    return
        time.sleep(0.1)
    status = process.poll()
    state = "is still starting" if status is None else f"exited with {status}"
    raise RuntimeError(
        f"gunicorn at {url} did not answer /_health/ ({state}); log tail:\n" + server.log_tail()
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def start_live_server(
    postgres, root: Path, *, database: str = DATABASE, extra_env: dict[str, str] | None = None
) -> tuple[LiveServer, Redis]:
    """The web and uploads apps under gunicorn on their own database and Redis; returns both."""
    postgres.create_database(database)
    redis_port, port, upload_port = free_ports(3)
    redis = Redis(root / "redis", redis_port)
    redis.start()
    # Nothing from the outer shell may point the server elsewhere (another database, S3, the
    # production profile): start from the environment without the app's own variables.
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WAREHOUSE_", "AWS_")) and key != "PYTHONDONTWRITEBYTECODE"
    }
    env = {
        **inherited,
        "WAREHOUSE_ENV": "development",
        "DATABASE_URL": postgres.url(database),
        "REDIS_URL": redis.url(0),
        "WAREHOUSE_FILES_PATH": str(root / "files"),
        "WAREHOUSE_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "UPLOADS_CONCURRENCY": "2",
        # Requests in the log, so a failing test's report shows what the client asked for.
        "WAREHOUSE_ACCESS_LOG": "-",
        # gunicorn puts its control socket under ~/.gunicorn/: keep ours apart from any other
        # gunicorn on this machine (make serve, a parallel test run).
        "HOME": str(root),
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
        **(extra_env or {}),
    }
    server = LiveServer(
        url=f"http://127.0.0.1:{port}",
        upload_url=f"http://127.0.0.1:{upload_port}/legacy/",
        env=env,
        log=root / "gunicorn.log",
    )
    apps = [
        ("gunicorn-web.conf.py", "warehouse.asgi:make_asgi_app()", port),
        ("gunicorn-uploads.conf.py", "warehouse.wsgi:application", upload_port),
    ]
    try:
        server.cli("db", "upgrade")
        with server.log.open("wb") as log:
            for config, app, app_port in apps:
                server.processes.append(
                    subprocess.Popen(
                        [
                            str(VENV_BIN / "gunicorn"),
                            "-c",
                            str(REPO_ROOT / "config" / config),
                            "--bind",
                            f"127.0.0.1:{app_port}",
                            app,
                        ],
                        env=env,
                        cwd=REPO_ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for process, (_, _, app_port) in zip(server.processes, apps, strict=True):
            _wait_until_healthy(server, process, f"http://127.0.0.1:{app_port}")
    except BaseException:
        stop_live_server(server, redis)
        raise
    return server, redis


def stop_live_server(server: LiveServer, redis: Redis) -> None:
    for process in server.processes:
        _stop(process)
    redis.stop()


@pytest.fixture(scope="session")
def live_server(postgres, tmp_path_factory):
    server, redis = start_live_server(postgres, tmp_path_factory.mktemp("live-server"))
    try:
        yield server
    finally:
        stop_live_server(server, redis)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A client's error often only says "500": put the server's side of the story in the report.
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("live_server") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("gunicorn log (tail)", server.log_tail()))
