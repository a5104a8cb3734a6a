"""The whole production shape end to end: real twine and pip through Varnish, two gunicorn apps,
a Celery worker and beat, PostgreSQL, Redis and SeaweedFS (archive and cache buckets)."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from pathlib import Path

import pytest
import redis as redis_lib

from tests.interop.builder import build_project
from tests.interop.clients import Clients
from tests.support.artifacts import make_wheel
from tests.support.waiting import wait_for
from warehouse.storage.keys import content_key

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML = {"Accept": "text/html"}


@pytest.fixture
def clients(topology, tmp_path) -> Clients:
    return Clients(topology.url, tmp_path)


def simple_json(topology, name: str):
    answer = topology.cdn.get(f"/simple/{name}/", JSON)
    return answer, (json.loads(answer.body) if answer.status == 200 else None)


def key_of(path: Path) -> str:
    """Where the index stores an uploaded file (its content address)."""
    return content_key(hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest(), path.name)


# The app purges a change twice, the second time this long after the commit (the default of
# WAREHOUSE_CDN_REPURGE_SECONDS), plus a margin for the worker to send it.
REPURGE_SETTLED = 5 + 2


def warm(topology, name: str, uploaded_at: float | None = None) -> None:
    """Fetch the project's page in both formats until the CDN holds them for good.

    The purges of the uploads that made the project, including the deliberate second purge,
    must be over first, or a page warmed now would be dropped later.
    """
    if uploaded_at is not None:
        time.sleep(max(0.0, uploaded_at + REPURGE_SETTLED - time.monotonic()))
    for headers in (JSON, HTML):
        wait_for(
            lambda headers=headers: topology.cdn.get(f"/simple/{name}/", headers).x_cache == "HIT",
            timeout=20,
            interval=0.2,
            message=f"the CDN never kept /simple/{name}/",
        )


def test_twine_uploads_and_pip_installs_through_the_cdn(topology, clients, tmp_path):
    built = build_project(tmp_path / "build", "e2e-alpha", "1.0", sdist=False)
    started = time.monotonic()
    clients.twine_upload(topology.token, built.files)
    uploaded = time.monotonic()
    # The CDN sent the upload to the uploads app, not the web app.
    assert "POST /legacy/" in topology.log("uploads", 100_000)
    assert "POST /legacy/" not in topology.log("web", 100_000)

    key = key_of(built.wheel)
    assert topology.archive.exists(key)
    wait_for(lambda: topology.cache.exists(key), timeout=30, message="not copied to the cache")
    print(
        f"\ne2e: twine upload {uploaded - started:.2f}s; in the cache store "
        f"{time.monotonic() - uploaded:.2f}s after twine returned"
    )
    assert topology.cache.md5(key) == topology.archive.md5(key)

    clients.pip_install(tmp_path / "site", "e2e-alpha")
    assert clients.call_hello(built.module, path=tmp_path / "site") == "e2e-alpha 1.0"
    # pip's download went through the CDN, which now serves the file itself.
    download = topology.cdn.get(f"/packages/{key}")
    assert download.status == 200 and download.body == built.wheel.read_bytes()
    assert download.x_cache == "HIT"


def test_a_new_file_is_on_the_simple_page_within_a_second(topology, clients, tmp_path):
    wheels = [make_wheel(tmp_path, "e2e-beta", "1.0"), make_wheel(tmp_path, "e2e-other", "1.0")]
    clients.twine_upload(topology.token, wheels)
    uploaded_first = time.monotonic()
    for name in ("e2e-beta", "e2e-other"):
        warm(topology, name, uploaded_at=uploaded_first)

    newer = make_wheel(tmp_path, "e2e-beta", "2.0")
    started = time.monotonic()
    clients.twine_upload(topology.token, [newer])
    uploaded = time.monotonic()
    wait_for(
        lambda: "2.0" in (simple_json(topology, "e2e-beta")[1] or {}).get("versions", ()),
        timeout=10,
        interval=0.01,
    )
    visible = time.monotonic()
    print(
        f"\ne2e: twine upload of one file {uploaded - started:.2f}s; new version on the simple "
        f"page through the CDN {visible - uploaded:.3f}s after twine returned"
    )
    assert visible - uploaded < 1.0
    assert newer.name.encode() in topology.cdn.get("/simple/e2e-beta/", HTML).body
    # The unrelated project was not purged.
    for headers in (JSON, HTML):
        other = topology.cdn.get("/simple/e2e-other/", headers)
        assert other.x_cache == "HIT" and b"e2e_other-1.0" in other.body


def test_a_worker_down_during_the_upload_catches_up(topology, clients, tmp_path):
    clients.twine_upload(topology.token, [make_wheel(tmp_path, "e2e-gamma", "1.0")])
    warm(topology, "e2e-gamma")
    topology.worker.stop()
    try:
        newer = make_wheel(tmp_path, "e2e-gamma", "2.0")
        clients.twine_upload(topology.token, [newer])
        key = key_of(newer)
        # The upload is complete without a worker: the file is in the archive, and
        # downloads fall back to it.
        assert topology.archive.exists(key) and not topology.cache.exists(key)
        assert topology.cdn.get(f"/packages/{key}").body == newer.read_bytes()
        # Purging is the worker's job: until it runs, the CDN keeps the old page.
        assert simple_json(topology, "e2e-gamma")[1]["versions"] == ["1.0"]
    finally:
        topology.worker.start()
    started = time.monotonic()
    wait_for(
        lambda: (
            topology.cache.exists(key)
            and "2.0" in simple_json(topology, "e2e-gamma")[1]["versions"]
        ),
        timeout=60,
        interval=0.05,
        message="the worker never caught up",
    )
    print(
        f"\ne2e: restarted worker caught up (cache copy and purge) in {time.monotonic() - started:.2f}s"
    )


def test_a_lost_copy_task_is_made_good_by_the_reconcile(topology, clients, tmp_path):
    topology.worker.stop()
    try:
        wheel = make_wheel(tmp_path, "e2e-delta", "1.0")
        clients.twine_upload(topology.token, [wheel])
        broker = redis_lib.Redis.from_url(topology.redis.url(1))
        lost = 0
        for raw in broker.lrange("celery", 0, -1):
            if json.loads(raw)["headers"]["task"] == "warehouse.storage.tasks.copy_to_cache":
                lost += broker.lrem("celery", 1, raw)
        assert lost == 1
    finally:
        topology.worker.start()
    topology.worker.wait_ready()
    key = key_of(wheel)
    wait_for(lambda: topology.cache.exists(key), timeout=60, message="reconcile never copied it")


def scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_every_process_exposes_its_own_metrics(topology, clients, tmp_path):
    wheel = make_wheel(tmp_path, "e2e-metrics", "1.0")
    clients.twine_upload(topology.token, [wheel])
    assert topology.cdn.get("/simple/e2e-metrics/", JSON).status == 200
    copy = 'task="warehouse.storage.tasks.copy_to_cache"'
    expected = {
        # The simple page is answered by the fast path in front of the router: counted too.
        "web": 'warehouse_http_requests_total{method="GET",route="simple.detail",status="200"}',
        "uploads": "warehouse_tasks_sent_total{" + copy + "}",
        "worker": 'warehouse_tasks_total{state="success",' + copy + "}",
        # Beat sends the periodic reconcile every few seconds here.
        "beat": 'warehouse_tasks_sent_total{task="warehouse.storage.tasks.reconcile_cache"}',
    }
    for name, line in expected.items():
        wait_for(
            lambda name=name, line=line: line in scrape(topology.metrics_urls[name]),
            timeout=30,
            interval=0.5,
            message=f"{name} never showed {line}:\n{scrape(topology.metrics_urls[name])[-2000:]}",
        )
    # Each app counts only its own requests: the upload is not in the web app's scrape (other
    # tests on this topology post forms and API calls to the web app, rightly).
    upload = 'method="POST",route="legacy.upload"'
    assert upload not in scrape(topology.metrics_urls["web"])
    assert upload in scrape(topology.metrics_urls["uploads"])
    # The worker and beat also report the broker's queues, read at scrape time.
    assert "warehouse_queue_depth" in scrape(topology.metrics_urls["worker"])
