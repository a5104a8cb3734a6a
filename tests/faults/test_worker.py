"""The Celery worker killed (SIGKILL) in the middle of copying a file to the cache store."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest
import redis as redis_lib

from tests.faults.traffic import blob_key, upload, wheel
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

PROJECT = "faults-worker"
COPY = "warehouse.storage.tasks.copy_to_cache"


def _copy_under_way(log: str) -> bool:
    """A copy task received whose end the worker has not logged yet."""
    received = re.findall(rf"Task {re.escape(COPY)}\[([0-9a-f-]+)\] received", log)
    return any(f"[{task_id}] succeeded" not in log for task_id in received)


def test_a_worker_killed_mid_copy_loses_no_copy(faulty, tmp_path):
    worker = faulty.topology.worker
    # This test kills and restarts the worker itself, at the moments it chooses.
    faulty.supervisor.paused.set()
    try:
        _kill_mid_copy_and_recover(faulty, worker, tmp_path)
    finally:
        faulty.supervisor.paused.clear()


def _kill_mid_copy_and_recover(faulty, worker, tmp_path):
    worker.stop()
    # Files large enough that a copy takes a while: the kill lands inside one.
    files = [wheel(tmp_path, PROJECT, size=6 * 1024 * 1024) for _ in range(3)]
    try:
        for path in files:
            assert upload(faulty, path).status == 200
    finally:
        already = worker.log.stat().st_size
        worker.start()
    wait_for(
        lambda: _copy_under_way(worker.log.read_bytes()[already:].decode(errors="replace")),
        timeout=60,
        interval=0.01,
        message="the worker never started a copy",
    )
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()

    # The copy it was running is not lost: its message waits, unacknowledged, in the broker
    # (to be delivered again after the visibility timeout), and its file is still pending.
    broker = redis_lib.Redis.from_url(faulty.redis.url(1))
    held = [json.loads(raw)[0] for raw in broker.hvals("unacked")]
    assert any(message["headers"]["task"] == COPY for message in held), held
    assert not all(faulty.topology.cache.exists(blob_key(path)) for path in files)

    worker.start()
    worker.wait_ready()
    # The reconcile copies what the dead worker left, without waiting for the redelivery.
    for path in files:
        key = blob_key(path)
        wait_for(lambda key=key: faulty.topology.cache.exists(key), timeout=60, interval=0.2)
        assert faulty.topology.cache.md5(key) == faulty.topology.archive.md5(key)

    faulty.assert_recovered(tmp_path, PROJECT)
    print(faulty.check_clean())
