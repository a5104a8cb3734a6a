"""The serial never lies, even under many concurrent uploads across projects.

Uploads run in parallel against gunicorn (several workers and threads) while a reader polls
XML-RPC ``changelog_since_serial(0)``, as a mirror would. Every poll must be a gap-free run of
serials that extends the previous poll: a serial a reader could see appear late (a hole filled
later) would make a mirror skip a change forever.
"""

from __future__ import annotations

import threading
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.artifacts import form_fields_for, make_sdist, make_wheel

pytestmark = [pytest.mark.mirror, pytest.mark.xdist_group("interop")]

PROJECTS, VERSIONS = 8, 4


def test_concurrent_uploads_keep_the_changelog_gap_free_and_ordered(live_server, tmp_path):
    live_server.create_user("serialist")
    token = live_server.create_token("serialist")
    files = []
    for p in range(PROJECTS):
        for v in range(1, VERSIONS + 1):
            name, version = f"serial-load-{p}", f"{v}.0"
            files.append((name, version, make_wheel(tmp_path, name, version)))
            files.append((name, version, make_sdist(tmp_path, name, version)))

    def upload(item):
        name, version, path = item
        fields = form_fields_for(path, name, version)
        response = requests.post(
            live_server.upload_url,
            data=[(k, v) for k, values in fields.items() for v in values],
            files={"content": (path.name, path.read_bytes(), "application/octet-stream")},
            auth=("__token__", token),
            timeout=120,
        )
        assert response.status_code == 200, f"{path.name}: {response.status_code} {response.text}"

    stop = threading.Event()
    problems: list[str] = []
    polls = 0

    def read_changelog() -> None:
        nonlocal polls
        rpc = xmlrpc.client.ServerProxy(live_server.url + "/pypi")
        seen: list[int] = []
        while not stop.is_set() or polls == 0:
            serials = [row[4] for row in rpc.changelog_since_serial(0)]
            polls += 1
            if serials != list(range(1, len(serials) + 1)):
                problems.append(f"gap in changelog: ...{serials[-5:]} ({len(serials)} rows)")
            if serials[: len(seen)] != seen:
                problems.append("a later poll does not extend an earlier one")
            seen = serials
            if problems:
                return

    reader = threading.Thread(target=read_changelog)
    reader.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(upload, files))
    stop.set()
    reader.join()

    assert problems == []
    assert polls > 1
    rpc = xmlrpc.client.ServerProxy(live_server.url + "/pypi")
    rows = rpc.changelog_since_serial(0)
    ours = [row for row in rows if row[0].startswith("serial-load-")]
    # Every change once: per project a create, the Owner role, a release per version, a file
    # per upload.
    added = [row for row in ours if row[3].startswith("add ") and " file " in row[3]]
    assert sorted(row[3].split()[-1] for row in added) == sorted(path.name for _, _, path in files)
    assert len([row for row in ours if row[3] == "create"]) == PROJECTS
    assert len([row for row in ours if row[3] == "new release"]) == PROJECTS * VERSIONS
    assert rpc.changelog_last_serial() == rows[-1][4] == len(rows)
