"""Redis stopped while uploads and reads run, then started again (empty, as after a crash)."""

from __future__ import annotations

import time

import pytest

from tests.faults.traffic import Traffic, assert_answered_clearly, read, upload, wheel

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

PROJECT = "faults-redis"


def test_redis_down_refuses_uploads_with_503_and_reads_go_on(faulty, tmp_path):
    assert upload(faulty, wheel(tmp_path, PROJECT)).status == 200
    reads = [f"/simple/{PROJECT}/", f"/pypi/{PROJECT}/json"]
    with Traffic(faulty, tmp_path, PROJECT, reads) as load:
        time.sleep(0.5)
        faulty.redis.stop()
        try:
            time.sleep(1)
            during = [upload(faulty, wheel(tmp_path, PROJECT)), read(faulty, reads[0])]
        finally:
            faulty.redis.start()

    assert_answered_clearly(load)
    # Uploads need Redis (their rate limit): refused, and saying so.
    stored, listed = during
    assert stored.status == 503 and "Redis" in stored.reason, stored
    assert all("Redis" in o.reason for o in load.refused("upload"))
    # Reads do not: the page cache falls back to PostgreSQL.
    assert listed.status == 200, listed
    assert not load.refused("read") and load.of("read")
    faulty.assert_nothing_half_written(load)

    faulty.assert_recovered(tmp_path, PROJECT)
    print(faulty.check_clean())
