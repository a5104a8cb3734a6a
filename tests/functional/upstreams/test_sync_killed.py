"""``warehouse upstream sync`` killed with SIGKILL mid-pass resumes on the next run and ends
exactly where an uninterrupted sync ends: same projects, files and journal, nothing twice,
nothing missing."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import _truncate_all
from warehouse.cli import main
from warehouse.packaging.models import File, JournalEntry, Project, Release
from warehouse.upstreams.models import Upstream, UpstreamFile, UpstreamProject, UpstreamQueueItem
from warehouse.upstreams.services import add_upstream

NAMES = [f"killed-{i:02d}" for i in range(12)]
WAREHOUSE = Path(sys.executable).parent / "warehouse"


class GatedProxy:
    """Forwards to the upstream; the page of project ``hold`` waits (the sync is then stopped
    mid-pass, at a known project, while the pages after it are fetched)."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.hold: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_GET(self):  # noqa: N802
                if proxy.hold is not None and self.path == f"/simple/{proxy.hold}/":
                    proxy.holding.set()
                    proxy.release.wait(120)
                    return
                self._forward("GET")

            def do_POST(self):  # noqa: N802
                self._forward("POST")

            def _forward(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in {"accept", "content-type"}
                }
                answer = requests.request(
                    method, proxy.target + self.path, data=body or None, headers=headers, timeout=60
                )
                self.send_response(answer.status_code)
                for key in ("Content-Type", "ETag", "X-PyPI-Last-Serial"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def gate(self, hold: str | None) -> None:
        self.release.set()
        self.release, self.holding = threading.Event(), threading.Event()
        self.hold = hold

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(instance_upstream):
    gated = GatedProxy(instance_upstream.server.url)
    yield gated
    gated.close()


def _config() -> str:
    # The live server is shared with other tests: keep to this module's projects.
    return "[plugins]\nenabled =\n    allowlist_project\n[allowlist]\npackages =\n" + "".join(
        f"    {n}\n" for n in NAMES
    )


def _snapshot(session) -> dict:
    """What a sync leaves, without ids and times (which differ from run to run)."""
    return {
        "projects": session.execute(
            sa.select(Project.name, Project.normalized_name, Project.total_size).order_by(
                Project.normalized_name
            )
        ).all(),
        "releases": session.execute(
            sa.select(Project.normalized_name, Release.version, Release.sort_order, Release.summary)
            .join(Project, Project.id == Release.project_id)
            .order_by(Project.normalized_name, Release.version)
        ).all(),
        "files": session.execute(
            sa.select(File.filename, File.sha256_digest, File.size, File.path, UpstreamFile.url)
            .join(UpstreamFile, UpstreamFile.file_id == File.id)
            .order_by(File.filename)
        ).all(),
        "links": session.execute(
            sa.select(Project.normalized_name, UpstreamProject.serial, UpstreamProject.shared)
            .join(Project, Project.id == UpstreamProject.project_id)
            .order_by(Project.normalized_name)
        ).all(),
        # In the order written: a resumed pass goes on where the killed one stopped.
        "journal": session.execute(
            sa.select(
                JournalEntry.name,
                JournalEntry.version,
                JournalEntry.action,
                JournalEntry.submitted_by,
            ).order_by(JournalEntry.id)
        ).all(),
        "upstream": session.execute(
            sa.select(Upstream.last_serial, Upstream.target_serial, Upstream.state)
        ).all(),
        "queued": session.scalar(sa.select(sa.func.count()).select_from(UpstreamQueueItem)),
    }


def _applied(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(UpstreamProject))


def test_a_sync_killed_twice_ends_as_an_uninterrupted_one(
    instance_upstream, proxy, settings, clean_database, db_session, monkeypatch
):
    for name in NAMES:
        instance_upstream.publish(name, "1.0", "ws" if name.endswith(("0", "5")) else "s")
    instance_upstream.publish(NAMES[3], "1.1", "s")
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "WAREHOUSE_FILES_PATH": settings.files_path,
    }
    for key in ("DATABASE_URL", "REDIS_URL", "WAREHOUSE_FILES_PATH"):
        monkeypatch.setenv(key, env[key])

    def add() -> None:
        add_upstream(
            db_session, settings, name="inst", url=proxy.simple_url, bandersnatch_config=_config()
        )
        db_session.commit()

    # The reference: one uninterrupted sync (the same CLI command, in this process).
    add()
    result = CliRunner().invoke(main, ["upstream", "sync", "inst"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{len(NAMES)} projects synced" in result.output
    expected = _snapshot(db_session)
    db_session.rollback()
    assert len(expected["projects"]) == len(NAMES) and expected["queued"] == 0
    _truncate_all(clean_database)

    add()
    # Killed while fetching its 4th project (3 applied, the pages after it fetched but not
    # applied), then again at a moment nothing chose: as soon as 2 more are applied.
    proxy.gate(hold=NAMES[3])
    child = subprocess.Popen([str(WAREHOUSE), "upstream", "sync", "inst"], env=env)
    try:
        assert proxy.holding.wait(120), "the sync never reached its 4th project"
        deadline = time.monotonic() + 60
        while _applied(clean_database) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # the pages after the held one arrive meanwhile
        assert _applied(clean_database) == 3
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        child.kill()
    proxy.gate(hold=None)
    # One fetcher: pages then come one by one, so the run is still going when it is killed.
    child = subprocess.Popen(
        [str(WAREHOUSE), "upstream", "sync", "inst", "--workers", "1"], env=env
    )
    try:
        deadline = time.monotonic() + 120
        while _applied(clean_database) < 5:
            assert child.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        child.kill()
    applied = _applied(clean_database)
    assert 5 <= applied < len(NAMES)
    with clean_database.connect() as connection:
        # What was not applied is still queued: the checkpoint.
        assert (
            connection.scalar(sa.select(sa.func.count()).select_from(UpstreamQueueItem))
            == len(NAMES) - applied
        )
        assert connection.scalar(sa.select(Upstream.state)) == "syncing"

    finished = subprocess.run(
        [str(WAREHOUSE), "upstream", "sync", "inst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"{len(NAMES) - applied} projects synced" in finished.stdout
    assert _snapshot(db_session) == expected
