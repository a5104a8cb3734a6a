"""A change is seen through the CDN within 2 s whatever made it: the CLI, the management API
or the website. Each of them only writes journal entries; the reactions in warehouse/effects.py
(page caches, CDN purge, blob deletion in both stores) follow from those alike."""

from __future__ import annotations

import base64
import html
import re
import time
import urllib.parse

import pytest
import requests

from tests.e2e.test_topology import HTML, JSON, key_of, simple_json, warm
from tests.interop.clients import Clients
from tests.support.artifacts import make_wheel
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# The promise: a change is on the CDN this soon after the call that made it returns.
VISIBLE_WITHIN = 2.0


@pytest.fixture
def clients(topology, tmp_path) -> Clients:
    return Clients(topology.url, tmp_path)


def publish(topology, clients, tmp_path, name: str):
    """Two releases of ``name``, their pages and the 1.0 wheel held by the CDN."""
    wheels = [make_wheel(tmp_path, name, "1.0"), make_wheel(tmp_path, name, "2.0")]
    clients.twine_upload(topology.token, wheels)
    uploaded = time.monotonic()
    key = key_of(wheels[0])
    wait_for(lambda: topology.cache.exists(key), timeout=30, message="not copied to the cache")
    warm(topology, name, uploaded_at=uploaded)
    wait_for(
        lambda: topology.cdn.get(f"/packages/{key}").x_cache == "HIT",
        timeout=10,
        message="the CDN never kept the file",
    )
    return key, wheels[0].name


def seen_within(check, what: str) -> float:
    started = time.monotonic()
    wait_for(check, timeout=VISIBLE_WITHIN, interval=0.02, message=f"{what} not seen in 2 s")
    return time.monotonic() - started


def yanked(topology, name: str) -> bool:
    _, page = simple_json(topology, name)
    return page is not None and any(f.get("yanked") for f in page["files"])


def gone(topology, path: str, headers=None) -> bool:
    return topology.cdn.get(path, headers).status == 404


def check_file_deleted(topology, name: str, key: str) -> None:
    seen_within(lambda: gone(topology, f"/packages/{key}"), "the deleted file's 404")
    _, page = simple_json(topology, name)
    assert key.rpartition("/")[2] not in {f["filename"] for f in page["files"]}
    # Both stores let go of the blob: the origin could otherwise serve it again.
    wait_for(lambda: not topology.cache.exists(key), timeout=VISIBLE_WITHIN)
    assert not topology.archive.exists(key)


def check_project_deleted(topology, name: str) -> None:
    seen_within(lambda: gone(topology, f"/simple/{name}/", JSON), "the deleted project's 404")
    assert gone(topology, f"/simple/{name}/", HTML)
    assert f"/{name}/".encode() not in topology.cdn.get("/simple/", HTML).body


def test_cli_changes_reach_the_cdn(topology, clients, tmp_path):
    key, filename = publish(topology, clients, tmp_path, "e2e-cli")
    topology.cli("project", "yank", "e2e-cli", "2.0", "--reason", "broken")
    seen_within(lambda: yanked(topology, "e2e-cli"), "the CLI's yank")

    topology.cli("project", "delete-file", filename)
    check_file_deleted(topology, "e2e-cli", key)

    topology.cli("project", "delete", "e2e-cli", "--confirm", "e2e-cli")
    check_project_deleted(topology, "e2e-cli")


def _api(topology, method: str, path: str, **kwargs) -> requests.Response:
    auth = base64.b64encode(f"__token__:{topology.token}".encode()).decode()
    answer = requests.request(
        method,
        topology.url + path,
        headers={"Authorization": f"Basic {auth}"},
        timeout=10,
        **kwargs,
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_management_api_changes_reach_the_cdn(topology, clients, tmp_path):
    key, _ = publish(topology, clients, tmp_path, "e2e-api")
    _api(topology, "POST", "/api/projects/e2e-api/releases/2.0/yank", json={"reason": "old"})
    seen_within(lambda: yanked(topology, "e2e-api"), "the API's yank")

    _api(topology, "DELETE", "/api/projects/e2e-api/releases/1.0")
    check_file_deleted(topology, "e2e-api", key)


class Site:
    """A person at the website, logged in, submitting its forms with their CSRF tokens."""

    def __init__(self, topology):
        self.url = topology.url
        self.http = requests.Session()
        self.submit("/account/login/", username=topology.username, password=topology.password)

    def submit(self, path: str, form_action: str | None = None, **fields) -> requests.Response:
        page = self.http.get(self.url + path, timeout=10)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        action = form_action or path
        answer = self.http.post(
            urllib.parse.urljoin(self.url + path, action),
            data={"csrf_token": html.unescape(token.group(1)), **fields},
            timeout=10,
        )
        assert answer.status_code == 200 and "error" not in answer.url, answer.text[-2000:]
        return answer


def test_website_changes_reach_the_cdn(topology, clients, tmp_path):
    key, filename = publish(topology, clients, tmp_path, "e2e-site")
    site = Site(topology)
    release = "/manage/project/e2e-site/release/2.0/"
    site.submit(release, "yank/", reason="superseded")
    seen_within(lambda: yanked(topology, "e2e-site"), "the website's yank")

    site.submit(
        "/manage/project/e2e-site/",
        "delete/",
        confirm_project_name="e2e-site",
    )
    check_project_deleted(topology, "e2e-site")
    wait_for(lambda: not topology.cache.exists(key), timeout=VISIBLE_WITHIN)
    assert not topology.archive.exists(key)
