"""Faults on the real processes: the production shape on servers these tests may stop.

The stack is the end-to-end one (tests/support/topology.py), but on a PostgreSQL cluster, a
SeaweedFS and a Redis of its own, never the session's shared servers, and with its upload
temporary folder on a small tmpfs that a test can fill. One stack serves every test in this
folder (they share the ``faults`` xdist group); each test leaves it whole for the next.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from devstack.services import Postgres, SeaweedFS, free_port
from tests.faults.traffic import Outcome, Traffic, blob_key, read, upload, wheel
from tests.support import seaweedfs as test_seaweedfs
from tests.support.topology import DATABASE, VENV_BIN, Topology, running_topology
from tests.support.varnish import varnish_installed
from tests.support.waiting import wait_for

# Room for a few uploads' spooled copies at once; a test fills it to see the refusal.
UPLOAD_TMPFS_SIZE = "64m"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    stack = item.funcargs.get("faulty") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, FaultyStack):
        report.sections.append(("stack logs (tails)", stack.topology.logs()))
        if keep := os.environ.get("WAREHOUSE_FAULTS_KEEP_LOGS"):
            # The whole logs, for a failure the tails do not explain.
            shutil.copytree(
                stack.topology.root,
                Path(keep) / item.name,
                ignore=shutil.ignore_patterns(
                    "redis", "metrics", "celery", "beat-schedule*", ".gunicorn"
                ),
                dirs_exist_ok=True,
            )


class Supervisor(threading.Thread):
    """What compose's ``restart: unless-stopped`` does for the worker and beat.

    A Celery worker can exit on its own when its broker goes away (kombu fails while it puts
    back its unacknowledged messages: "Unrecoverable error"); production's process manager
    starts it again, and so does this. ``paused`` leaves a test to restart by hand.
    """

    def __init__(self, processes):
        super().__init__(daemon=True)
        self.processes = processes
        self.paused = threading.Event()
        self.done = threading.Event()
        self.restarts = 0

    def run(self) -> None:
        while not self.done.wait(0.5):
            if self.paused.is_set():
                continue
            for managed in self.processes:
                if managed.wanted and managed.process.poll() is not None:
                    managed.start()
                    self.restarts += 1


class FaultyStack:
    """The topology and the servers under it, which a test may stop and start again."""

    def __init__(
        self,
        topology: Topology,
        postgres: Postgres,
        s3: SeaweedFS,
        upload_tmp: Path,
        *,
        tmpfs: bool,
    ):
        self.topology = topology
        self.postgres = postgres
        self.s3 = s3
        self.upload_tmp = upload_tmp
        # Whether upload_tmp is a small tmpfs of its own (mounting one needs root).
        self.tmpfs = tmpfs

    @property
    def redis(self):
        return self.topology.redis

    def check_clean(self, timeout: float = 45) -> str:
        """Run ``warehouse check --since all`` (the CLI) until it reports clean; its output.

        Recovery takes a moment (the worker reconnects with a backoff, the reconcile runs every
        two seconds), so a finding may stand for a while; one that outlasts ``timeout`` fails.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(
                [str(VENV_BIN / "warehouse"), "check", "--since", "all"],
                env=self.topology.env,
                capture_output=True,
                text=True,
            )
            if result.returncode == 0:
                return result.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"warehouse check never came back clean:\n{result.stdout}")
            time.sleep(1)

    def assert_recovered(self, tmp_path: Path, project: str) -> Path:
        """A new upload is accepted, shows on the simple page and downloads: by itself, with
        no step by hand after the service came back."""
        path = wheel(tmp_path, project)
        outcomes: list[Outcome] = []
        wait_for(
            lambda: outcomes.append(upload(self, path)) or outcomes[-1].status == 200,
            timeout=20,
            interval=0.5,
            message=f"uploads did not recover: {[str(o) for o in outcomes[-3:]]}",
        )
        wait_for(
            lambda: path.name.encode() in read(self, f"/simple/{project}/").body,
            timeout=30,
            interval=0.2,
            message=f"{path.name} never showed on the simple page",
        )
        download = read(self, f"/packages/{blob_key(path)}", accept="*/*")
        assert download.status == 200 and download.body == path.read_bytes(), download
        return path

    def file_rows(self) -> set[str]:
        rows = self.postgres.psql(DATABASE, "SELECT filename FROM release_files")
        return set(rows.split())

    def assert_nothing_half_written(self, load: Traffic) -> None:
        """Every upload answered 200 has its row and blob; every other one has neither."""
        rows = self.file_rows()
        refused: list[str] = []
        for path in load.attempted:
            key = blob_key(path)
            if path in load.uploaded:
                assert path.name in rows and self.topology.archive.exists(key), path.name
            elif path.name not in rows:
                refused.append(key)
            else:
                # Committed though its answer never came (a connection cut after the commit):
                # whole, like any other file.
                assert self.topology.archive.exists(key), f"{path.name}: row without blob"
        # Refused: nothing of it may stay stored. A blob whose upload could not ask the
        # database who owns it is removed by a task once the database is back.
        wait_for(
            lambda: not [key for key in refused if self.topology.archive.exists(key)],
            timeout=30,
            interval=0.5,
            message=f"blobs of refused uploads left in the archive: {refused}",
        )


def _mount_tmpfs(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={UPLOAD_TMPFS_SIZE},mode=1777", "tmpfs", str(path)],
        capture_output=True,
    )
    return result.returncode == 0


def _kill(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _kill_processes(topology: Topology) -> None:
    processes = [topology.worker.process, topology.beat.process, *topology.apps.values()]
    for process in processes:
        if process is not None and process.poll() is None:
            _kill(process.pid)
    for process in processes:
        if process is not None:
            process.wait()


@pytest.fixture(scope="session")
def faulty():
    if not varnish_installed():
        pytest.skip("varnishd is not installed (bin/bootstrap installs it)")
    if not test_seaweedfs.WEED.exists():
        pytest.skip(f"SeaweedFS is not installed ({test_seaweedfs.WEED})")
    # Not under pytest's basetemp: PostgreSQL runs as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="warehouse-faults-"))
    os.chmod(root, 0o755)
    postgres = Postgres(root / "postgres", free_port(), fast_and_unsafe=True)
    ports = test_seaweedfs._free_ports(5)
    s3 = SeaweedFS(
        root / "seaweedfs",
        s3_port=ports[0],
        master_port=ports[1],
        volume_port=ports[2],
        filer_port=ports[3],
        admin_port=ports[4],
        buckets=("faults-ready",),
    )
    upload_tmp = root / "upload-tmp"
    mounted = _mount_tmpfs(upload_tmp)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        if mounted:
            stack.callback(subprocess.run, ["umount", "-l", str(upload_tmp)], check=False)
        # The two slowest servers to start, side by side.
        s3.root.mkdir(parents=True)
        starting_s3 = threading.Thread(target=s3.start)
        starting_s3.start()
        try:
            postgres.start()
        finally:
            starting_s3.join()
            stack.callback(lambda: _kill(s3.pid()))
        stack.callback(postgres.stop)
        if s3.pid() is None:
            raise RuntimeError(f"SeaweedFS did not start:\n{s3.log.read_text()[-2000:]}")
        # What running_topology makes its buckets with: the same server, restartable.
        s3_info = test_seaweedfs.SeaweedFS(s3.endpoint_url, s3.access_key, s3.secret_key)
        topology = stack.enter_context(
            running_topology(
                postgres,
                s3_info,
                prefix="warehouse-faults-stack-",
                extra_env={
                    "WAREHOUSE_UPLOAD_TMPDIR": str(upload_tmp),
                    # A copy that fails while the cache store is down is tried again soon.
                    "WAREHOUSE_CACHE_RECONCILE_SECONDS": "2",
                },
            )
        )
        # Throwaway processes: killed at once rather than each shut down in turn.
        stack.callback(_kill_processes, topology)
        supervisor = Supervisor([topology.worker, topology.beat])
        supervisor.start()
        stack.callback(supervisor.done.set)
        faulty = FaultyStack(topology, postgres, s3, upload_tmp, tmpfs=mounted)
        faulty.supervisor = supervisor
        yield faulty
