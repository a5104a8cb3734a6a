"""SeaweedFS (the archive and the cache store) stopped during uploads and downloads."""

from __future__ import annotations

import time

import pytest

from tests.faults.traffic import (
    Traffic,
    assert_answered_clearly,
    blob_key,
    read,
    upload,
    wheel,
)
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
        try:
            during = [
                upload(faulty, wheel(tmp_path, PROJECT)),
                read(faulty, f"/packages/{key}?during", accept="*/*"),
                read(faulty, f"/simple/{PROJECT}/"),
            ]
        finally:
            faulty.s3.start()

    assert_answered_clearly(load)
    stored, downloaded, listed = during
    assert stored.status == 503 and "file store" in stored.reason, stored
    # Downloads need the store (the CDN answers its own 503: see config/varnish/default.vcl);
    # the simple page does not.
    assert downloaded.status == 503 and downloaded.clear, downloaded
    assert listed.status == 200, listed
    assert all(o.what.startswith("/packages/") for o in load.refused("read"))
    assert all("file store" in o.reason for o in load.refused("upload"))
    faulty.assert_nothing_half_written(load)

    faulty.assert_recovered(tmp_path, PROJECT)
    print(faulty.check_clean())
