"""A global scan survives its worker killed with SIGKILL: resumed, every file is scanned once."""

from __future__ import annotations

import os
import re
import signal

import pytest
import sqlalchemy as sa

from tests.interop.clients import Clients
from tests.support.artifacts import make_wheel
from tests.support.waiting import wait_for
from warehouse.db import create_engine

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NAME = "e2e-scan-run"
RELEASES = 12


def _busy_module(version: str) -> str:
    # Words the scanner looks closer at (so each module is parsed and walked), with nothing
    # that makes a finding: enough work per release that the run is still going when killed.
    functions = "".join(
        f"def step_{n}(values):\n    return [v * {n} for v in values if v]\n\n" for n in range(3000)
    )
    return f'import subprocess\n__version__ = "{version}"\n\n{functions}'


def _items(engine, run_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT state, count(*) FROM scan_run_items WHERE run_id = :r GROUP BY state"),
            {"r": run_id},
        ).all()
    return dict(rows)


def test_a_killed_worker_leaves_a_run_that_resumes_to_each_file_scanned_once(topology, tmp_path):
    engine = create_engine(topology.env["DATABASE_URL"])
    wheels = [
        make_wheel(
            tmp_path,
            NAME,
            f"1.{n}",
            extra_files={"e2e_scan_run/work.py": _busy_module(f"1.{n}")},
        )
        for n in range(RELEASES)
    ]
    with engine.connect() as connection:
        serial = connection.scalar(sa.text("SELECT coalesce(max(id), 0) FROM journals"))
    Clients(topology.url, tmp_path).twine_upload(topology.token, wheels)

    # The run's tasks wait in the broker while the worker is down, so it starts on a full queue.
    topology.worker.stop()
    try:
        out = topology.cli("scan", "run", "--all-releases", "--since", str(serial))
        run_id = int(re.search(r"scan run (\d+) started: (\d+) releases", out).group(1))
        assert f"{RELEASES} releases" in out
        topology.worker.start()
        wait_for(lambda: _items(engine, run_id).get("done", 0) >= 1, timeout=60, interval=0.01)
        os.killpg(topology.worker.process.pid, signal.SIGKILL)
        topology.worker.process.wait()
        at_kill = _items(engine, run_id)
        assert at_kill.get("pending", 0) > 0, f"the run ended before the kill: {at_kill}"
    finally:
        if topology.worker.process.poll() is not None:
            topology.worker.start()
        topology.worker.wait_ready()

    assert "resumed" in topology.cli("scan", "run", "--resume", str(run_id))
    wait_for(
        lambda: _items(engine, run_id) == {"done": RELEASES},
        timeout=120,
        interval=0.2,
        message=f"the resumed run did not finish: {_items(engine, run_id)}",
    )
    assert "finished: 12 done, 0 failed, 0 pending; 12 clean" in topology.cli(
        "scan", "status", str(run_id)
    )
    with engine.connect() as connection:
        per_file = connection.execute(
            sa.text(
                "SELECT f.filename, count(r.id) FROM release_files f"
                " JOIN releases rel ON rel.id = f.release_id"
                " JOIN projects p ON p.id = rel.project_id"
                " LEFT JOIN scan_results r ON r.file_id = f.id AND r.run_id = :run"
                " WHERE p.normalized_name = :name GROUP BY f.filename"
            ),
            {"run": run_id, "name": NAME},
        ).all()
    engine.dispose()
    assert len(per_file) == RELEASES
    assert {count for _, count in per_file} == {1}, per_file
    print(f"\ne2e: scan run killed with {at_kill} items, resumed to {RELEASES} done")
