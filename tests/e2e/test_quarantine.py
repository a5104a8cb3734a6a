"""Quarantine through the CDN: a project warm in Varnish vanishes from the simple index, its
simple page and its file URL within two seconds of the command, and comes back after."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.test_topology import HTML, JSON, REPURGE_SETTLED, key_of
from tests.interop.clients import Clients
from tests.support.artifacts import make_wheel
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NAME = "e2e-quarantined"


def _cached(topology, path: str, headers=None) -> bool:
    return topology.cdn.get(path, headers or {}).x_cache == "HIT"


def _state(topology, file_path: str) -> dict[str, bool]:
    index = json.loads(topology.cdn.get("/simple/", JSON).body)
    return {
        "index": NAME in {p["name"] for p in index["projects"]},
        "page json": topology.cdn.get(f"/simple/{NAME}/", JSON).status == 200,
        "page html": topology.cdn.get(f"/simple/{NAME}/", HTML).status == 200,
        "file": topology.cdn.get(file_path).status == 200,
    }


def _within(topology, file_path: str, wanted: bool, seconds: float) -> float:
    started = time.monotonic()
    wait_for(
        lambda: set(_state(topology, file_path).values()) == {wanted},
        timeout=seconds,
        interval=0.05,
        message=f"not every surface {'came back' if wanted else 'vanished'} within {seconds}s: "
        f"{_state(topology, file_path)}",
    )
    return time.monotonic() - started


def test_a_quarantined_project_vanishes_through_the_cdn_and_comes_back(topology, tmp_path):
    wheel = make_wheel(tmp_path, NAME, "1.0")
    Clients(topology.url, tmp_path).twine_upload(topology.token, [wheel])
    uploaded = time.monotonic()
    file_path = f"/packages/{key_of(wheel)}"
    # Warm every surface in the CDN once the upload's own purges are over.
    time.sleep(max(0.0, uploaded + REPURGE_SETTLED - time.monotonic()))
    for path, headers in ((f"/simple/{NAME}/", JSON), (f"/simple/{NAME}/", HTML), (file_path, {})):
        wait_for(lambda p=path, h=headers: _cached(topology, p, h), timeout=20, interval=0.2)

    topology.cli("project", "quarantine", NAME, "--reason", "e2e: malware")
    gone = _within(topology, file_path, False, 2.0)
    # ...and it stays gone once the later purges have run.
    time.sleep(REPURGE_SETTLED)
    later = _state(topology, file_path)
    assert set(later.values()) == {False}, later

    topology.cli("project", "unquarantine", NAME)
    back = _within(topology, file_path, True, 2.0)
    print(f"\ne2e: quarantine visible through the CDN in {gone:.2f}s, release in {back:.2f}s")
