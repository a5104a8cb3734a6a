"""SeaweedFS (the archive and the cache store) stopped during uploads and downloads."""

from __future__ import annotations

import time

import pytest

from tests.faults.traffic import Traffic, assert_answered_clearly, blob_key, upload, wheel
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

PROJECT = "faults-s3"


def test_file_store_down_refuses_uploads_and_downloads_with_503(faulty, tmp_path):
    first = wheel(tmp_path, PROJECT)
    assert upload(faulty, first).status == 200
    key = blob_key(first)
    wait_for(lambda: faulty.topology.cache.exists(key), timeout=30, message="never cached")
    # Downloads that reach the stores each time (the CDN keys its copies by the whole URL).
    reads = [f"/simple/{PROJECT}/", f"/packages/{key}?fresh="]
    with Traffic(faulty, tmp_path, PROJECT, reads) as load:
        time.sleep(0.5)
        faulty.s3.stop()
        time.sleep(2)
        refused_while_down = load.refused("upload"), load.refused("read")
        faulty.s3.start()

    assert_answered_clearly(load)
    uploads_refused, reads_refused = refused_while_down
    assert uploads_refused and all("file store" in o.reason for o in uploads_refused)
    # Downloads need the store; the simple page does not.
    assert reads_refused and all(o.what.startswith("/packages/") for o in load.refused("read"))
    assert any(o.status == 200 and o.what.startswith("/simple/") for o in load.of("read"))
    faulty.assert_nothing_half_written(load)

    faulty.assert_recovered(tmp_path, PROJECT)
    print(faulty.check_clean())
