"""Celery workers and brokers for tests.

* :func:`embedded_worker`: a real worker consuming from the configured broker, in a thread of
  the test process (so it sees the test's :class:`~warehouse.tasks.TaskContext`);
* :class:`WorkerProcess`: ``celery -A warehouse.tasks worker`` as a process that a test can
  stop and start again (the end-to-end tests);
* the ``moto_sqs`` fixture: moto's server on a free port, an SQS endpoint for kombu;
* :func:`celery_app_for`: point the app at a broker for one test and back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from devstack.services import _wait_for_port, free_port
from tests.support.waiting import wait_for
from warehouse import tasks
from warehouse.settings import REPO_ROOT

VENV_BIN = Path(sys.executable).parent


@contextlib.contextmanager
def embedded_worker(**kwargs):
    """A solo-pool worker thread on the app's current broker, stopped when the block ends."""
    kwargs.setdefault("perform_ping_check", False)
    kwargs.setdefault("pool", "solo")
    kwargs.setdefault("shutdown_timeout", 30)
    with start_worker(tasks.app, **kwargs) as worker:
        yield worker


@contextlib.contextmanager
def celery_app_for(settings, **overrides):
    """The app configured from ``settings`` for the block, then from its old settings again."""
    before = {key: tasks.app.conf[key] for key in tasks.celery_config(settings)}
    before.update({key: tasks.app.conf.get(key) for key in overrides})
    tasks.configure_app(settings, **overrides)
    try:
        yield tasks.app
    finally:
        # configure_app drops connections when the broker changes; do the same going back.
        tasks.configure_app(settings, **before)


class WorkerProcess:
    """``celery worker`` (and optionally ``celery beat``) in processes of their own."""

    def __init__(self, env: dict[str, str], root: Path, *, name: str = "worker"):
        self.env = env
        self.root = root
        self.name = name
        self.log = root / f"{name}.log"
        self.process: subprocess.Popen | None = None
        # Whether it should be running: false after stop(), so a supervisor leaves it down.
        self.wanted = False

    def start(self, *extra: str) -> None:
        assert self.process is None or self.process.poll() is not None
        self.wanted = True
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            "warehouse.tasks",
            *(
                ["worker", "--pool", "solo", "--hostname", f"{self.name}-{secrets.token_hex(3)}@%h"]
                if self.name.startswith("worker")
                else ["beat", "--schedule", str(self.root / "beat-schedule"), "--pidfile="]
            ),
            "--loglevel",
            "INFO",
            *extra,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        # The worker logs "ready." once it consumes; beat logs "beat: Starting...".
        marker = b"ready." if self.name.startswith("worker") else b"Starting..."
        wait_for(
            lambda: marker in self.log.read_bytes() or self.process.poll() is not None,
            timeout,
            message=f"celery {self.name} did not start:\n{self.log_tail()}",
        )
        if self.process.poll() is not None:
            raise AssertionError(f"celery {self.name} exited:\n{self.log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        self.wanted = False
        if self.process is None or self.process.poll() is not None:
            return
        # TERM: a warm shutdown, which finishes the task at hand.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@pytest.fixture(scope="session")
def moto_sqs(tmp_path_factory):
    """The URL of a moto server (SQS; any credentials are accepted)."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, 60, "moto_server", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
