"""The production shape, started for end-to-end tests: what ``make serve`` runs, on free ports.

PostgreSQL (its own database in the session's cluster), a Redis of its own (other tests
flush theirs), SeaweedFS with an archive and a cache bucket, the web and uploads apps under
gunicorn, a Celery worker and beat (restartable), and Varnish in front at ``topology.url``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.services import (
    Redis,
    _wait_for_port,
    app_commands,
    free_ports,
    process_environments,
    stack_environment,
)
from tests.support.celery_worker import WorkerProcess
from tests.support.live_server import PYCACHE
from tests.support.varnish import CDN, running_varnish, varnish_installed
from warehouse.settings import REPO_ROOT
from warehouse.storage.s3 import S3FileStorage

VENV_BIN = Path(sys.executable).parent
DATABASE = "warehouse_e2e"
STARTUP_TIMEOUT = 120.0


@dataclasses.dataclass
class Topology:
    cdn: CDN
    env: dict[str, str]
    root: Path
    archive: S3FileStorage
    cache: S3FileStorage
    redis: Redis
    worker: WorkerProcess
    beat: WorkerProcess
    apps: dict[str, subprocess.Popen]
    # Where each process answers /metrics, by process name.
    metrics_urls: dict[str, str] = dataclasses.field(default_factory=dict)
    username: str = "e2e"
    password: str = ""
    token: str = ""

    @property
    def url(self) -> str:
        return self.cdn.url

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "warehouse"), *args], env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise AssertionError(f"warehouse {' '.join(args)}:\n{result.stdout}{result.stderr}")
        return result.stdout

    def log(self, name: str, chars: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{self.log(name)}" for name in ("web", "uploads", "worker", "beat")
        )


def _start_app(name: str, argv: list[str], env: dict[str, str], root: Path) -> subprocess.Popen:
    with (root / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_healthy(port: int, process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_health/", timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def topology(postgres, seaweedfs):
    if not varnish_installed():
        pytest.skip("varnishd is not installed (bin/bootstrap installs it)")
    with running_topology(postgres, seaweedfs) as stack:
        yield stack


@contextlib.contextmanager
def running_topology(
    postgres, seaweedfs, *, prefix: str = "warehouse-e2e-", extra_env: dict[str, str] | None = None
):
    """The stack on ``postgres`` (a cluster to make its database in) and ``seaweedfs`` (an S3
    server to make its two buckets in); the faults tests give it servers they may stop."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    postgres.create_database(DATABASE)
    # All at once: ports chosen one by one may repeat, since nothing listens on them yet.
    redis_port, port, web_port, uploads_port, worker_metrics_port, beat_metrics_port = free_ports(6)
    redis = Redis(root / "redis", redis_port)
    redis.start()
    archive_bucket, cache_bucket = seaweedfs.make_bucket(), seaweedfs.make_bucket()
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WAREHOUSE_", "AWS_")) and key != "PYTHONDONTWRITEBYTECODE"
    }
    env = stack_environment(
        {
            **inherited,
            "WAREHOUSE_ENV": "development",
            "WAREHOUSE_S3_BUCKET": archive_bucket,
            "WAREHOUSE_CACHE_S3_BUCKET": cache_bucket,
            # Quick enough for a test to watch the reconcile catch up.
            "WAREHOUSE_CACHE_RECONCILE_SECONDS": "2",
            "WEB_CONCURRENCY": "2",
            "UPLOADS_CONCURRENCY": "2",
            "WAREHOUSE_ACCESS_LOG": "-",
            "WAREHOUSE_UPLOAD_TMPDIR": str(root / "upload-tmp"),
            "HOME": str(root),  # gunicorn's control socket goes under ~
            "PYTHONPYCACHEPREFIX": str(PYCACHE),
            **(extra_env or {}),
        },
        database_url=postgres.url(DATABASE),
        redis=redis,
        s3=seaweedfs,
        port=port,
    )
    environments = process_environments(
        env,
        state=root,
        worker_metrics_port=worker_metrics_port,
        beat_metrics_port=beat_metrics_port,
    )
    apps: dict[str, subprocess.Popen] = {}
    worker = WorkerProcess(environments["worker"], root, name="worker")
    beat = WorkerProcess(environments["beat"], root, name="beat")
    try:
        subprocess.run(
            [str(VENV_BIN / "warehouse"), "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
        )
        commands = app_commands(env, web_port=web_port, uploads_port=uploads_port, state=root)
        for name in ("web", "uploads"):
            apps[name] = _start_app(name, commands[name], environments[name], root)
        worker.start()
        beat.start()
        for name, app_port in (("web", web_port), ("uploads", uploads_port)):
            _wait_healthy(app_port, apps[name], name, root / f"{name}.log")
        worker.wait_ready()
        with running_varnish(web_port, uploads_port, port=port) as cdn:
            _wait_for_port(port, 10, "Varnish")
            client = seaweedfs.client()
            topology = Topology(
                cdn=cdn,
                env=env,
                root=root,
                archive=S3FileStorage(client, archive_bucket),
                cache=S3FileStorage(client, cache_bucket),
                redis=redis,
                worker=worker,
                beat=beat,
                apps=apps,
                metrics_urls={
                    "web": f"http://127.0.0.1:{web_port}/metrics",
                    "uploads": f"http://127.0.0.1:{uploads_port}/metrics",
                    "worker": f"http://127.0.0.1:{worker_metrics_port}/metrics",
                    "beat": f"http://127.0.0.1:{beat_metrics_port}/metrics",
                },
            )
            topology.password = secrets.token_urlsafe(12)
            topology.cli(
                "user",
                "create",
                "e2e",
                "--email",
                "e2e@example.com",
                "--password",
                topology.password,
            )
            topology.token = topology.cli("token", "create", "e2e").strip()
            yield topology
    finally:
        worker.stop()
        beat.stop()
        for process in apps.values():
            _stop(process)
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)
