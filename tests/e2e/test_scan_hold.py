"""A malicious upload through the CDN: pip never gets it (the simple pages never list it, its
file URL answers 404 at the edge), and it comes back when an admin releases the hold."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.test_topology import JSON, REPURGE_SETTLED, key_of
from tests.functional.scanning.conftest import malicious_wheel
from tests.interop.clients import Clients
from tests.support.artifacts import make_wheel
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NAME = "e2e-scanned"


def _offered(topology) -> list[str]:
    page = topology.cdn.get(f"/simple/{NAME}/", JSON)
    return sorted(f["filename"] for f in json.loads(page.body)["files"])


def _pip_download(clients: Clients, tmp_path, requirement: str):
    target = tmp_path / f"download-{time.monotonic_ns()}"
    result = clients.pip(
        "download", "--no-deps", "--no-cache-dir", "-d", target, requirement, check=False
    )
    return result.returncode, sorted(p.name for p in target.glob("*")) if target.exists() else []


def test_a_malicious_upload_never_reaches_pip_and_comes_back_when_released(topology, tmp_path):
    clients = Clients(topology.url, tmp_path)
    good = make_wheel(tmp_path, NAME, "1.0")
    bad = malicious_wheel(tmp_path, NAME, "2.0")
    bad_path = f"/packages/{key_of(bad)}"
    clients.twine_upload(topology.token, [good])
    uploaded = time.monotonic()
    # The project's page, warm in the CDN once the first upload's purges are over.
    time.sleep(max(0.0, uploaded + REPURGE_SETTLED - time.monotonic()))
    wait_for(
        lambda: topology.cdn.get(f"/simple/{NAME}/", JSON).x_cache == "HIT",
        timeout=20,
        interval=0.2,
    )

    clients.twine_upload(topology.token, [bad])
    # The upload's commit purged the page: the next answer is the new one, without 2.0.
    assert _offered(topology) == [good.name]
    assert topology.cdn.get(bad_path).status == 404
    returncode, downloaded = _pip_download(clients, tmp_path, NAME)
    assert (returncode, downloaded) == (0, [good.name])
    assert _pip_download(clients, tmp_path, f"{NAME}==2.0")[0] != 0
    # ...and still after every later purge.
    time.sleep(REPURGE_SETTLED)
    assert _offered(topology) == [good.name]
    assert topology.cdn.get(bad_path).status == 404
    assert f"{NAME} 2.0  malicious" in topology.cli("scan", "holds")

    topology.cli("scan", "release", NAME, "2.0", "--reason", "e2e: reviewed, a test sample")
    started = time.monotonic()
    wait_for(
        lambda: (
            _offered(topology) == sorted([good.name, bad.name])
            and topology.cdn.get(bad_path).status == 200
        ),
        timeout=3.0,
        interval=0.05,
        message="the released release did not come back through the CDN",
    )
    back = time.monotonic() - started
    returncode, downloaded = _pip_download(clients, tmp_path, f"{NAME}==2.0")
    assert (returncode, downloaded) == (0, [bad.name])
    print(f"\ne2e: a released hold is back through the CDN in {back:.2f}s")
