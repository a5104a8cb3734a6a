"""PostgreSQL restarted (a fast shutdown: every session cut) while uploads and reads run."""

from __future__ import annotations

import time

import pytest

from tests.faults.traffic import Traffic, assert_answered_clearly, upload, wheel

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

PROJECT = "faults-pg"


def test_postgres_restart_under_load_answers_503_and_recovers(faulty, tmp_path):
    assert upload(faulty, wheel(tmp_path, PROJECT)).status == 200
    reads = [f"/simple/{PROJECT}/", f"/pypi/{PROJECT}/json", "/rss/updates.xml"]
    with Traffic(faulty, tmp_path, PROJECT, reads, uploads=2) as load:
        time.sleep(1)
        faulty.postgres.stop()
        try:
            during = upload(faulty, wheel(tmp_path, PROJECT))
        finally:
            faulty.postgres.start()
        time.sleep(1)

    assert_answered_clearly(load)
    # The app's own 503, or the CDN's once the app's health probe has failed.
    assert during.status == 503 and during.clear, during
    assert load.refused("upload"), [str(o) for o in load.of("upload")]
    faulty.assert_nothing_half_written(load)

    faulty.assert_recovered(tmp_path, PROJECT)
    print(faulty.check_clean())
