"""The uploads app's temporary folder full (WAREHOUSE_UPLOAD_TMPDIR, a small tmpfs here)."""

from __future__ import annotations

import errno
import os
import time

import pytest

from tests.faults.traffic import Traffic, assert_answered_clearly, upload, wheel

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

PROJECT = "faults-disk"


def fill(folder) -> os.PathLike:
    """Write into ``folder`` until its file system has no byte left."""
    filler = folder / "filler"
    chunk = b"\0" * (1024 * 1024)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_upload_folder_refuses_uploads_with_503(faulty, tmp_path):
    if not faulty.tmpfs:
        pytest.skip("needs root to mount a small tmpfs as the upload folder")
    assert upload(faulty, wheel(tmp_path, PROJECT)).status == 200
    filler = fill(faulty.upload_tmp)
    try:
        with Traffic(faulty, tmp_path, PROJECT, [f"/simple/{PROJECT}/"]) as load:
            refused = [upload(faulty, wheel(tmp_path, PROJECT, size=256 * 1024)) for _ in range(3)]
            # The background traffic's own uploads meet the full folder too: on a loaded
            # machine its next upload may come after the three above, so wait for one.
            deadline = time.monotonic() + 20
            while not load.refused("upload") and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        filler.unlink()

    assert_answered_clearly(load)
    assert all(o.status == 503 and "no room" in o.reason for o in refused), refused
    assert load.refused("upload") and not load.refused("read")
    faulty.assert_nothing_half_written(load)
    # The refused uploads left no scratch file behind.
    assert os.listdir(faulty.upload_tmp) == []

    faulty.assert_recovered(tmp_path, PROJECT)
    print(faulty.check_clean())
