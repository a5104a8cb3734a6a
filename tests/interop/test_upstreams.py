"""pip and uv installing through an index that mirrors another instance of this index, and
bandersnatch mirroring that mirror (chaining)."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

import pytest
import requests

from tests.interop.builder import build_project
from tests.interop.clients import Clients
from tests.support.bandersnatch import (
    FLAVOURS,
    Bandersnatch,
    TlsProxy,
    ensure_bandersnatch,
    make_certificates,
)
from tests.support.live_server import start_live_server, stop_live_server

ONLY_OURS = """[plugins]
enabled =
    allowlist_project
[allowlist]
packages =
    upinterop-lib
    upinterop-app
"""


@pytest.fixture(scope="module")
def upstream_projects(live_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("upinterop")
    lib = build_project(root / "lib", "upinterop-lib", "1.0", sdist=False)
    app = build_project(root / "app", "upinterop-app", "1.0", requires=["upinterop-lib>=1.0"])
    now = build_project(root / "now", "upinterop-now", "1.0", sdist=False)
    live_server.create_user("upinterop")
    token = live_server.create_token("upinterop")
    Clients.for_server(live_server, root).twine_upload(
        token, [lib.wheel, app.wheel, app.sdist, now.wheel]
    )
    return lib, app, now


@pytest.fixture(scope="module")
def downstream(postgres, live_server, upstream_projects, tmp_path_factory):
    """A second instance whose upstream is the live server, synced with the CLI."""
    root = tmp_path_factory.mktemp("downstream")
    server, redis = start_live_server(postgres, root, database="warehouse_downstream")
    try:
        config = root / "bandersnatch.conf"
        config.write_text(ONLY_OURS)
        server.cli(
            "upstream",
            "add",
            "origin",
            live_server.url + "/simple/",
            "--bandersnatch-config",
            str(config),
        )
        synced = server.cli("upstream", "sync", "origin")
        assert "2 projects synced, 3 new files" in synced
        config.write_text(ONLY_OURS.replace("upinterop-lib\n    upinterop-app", "upinterop-now"))
        server.cli(
            "upstream",
            "add",
            "origin-now",
            live_server.url + "/simple/",
            "--policy",
            "immediate",
            "--bandersnatch-config",
            str(config),
        )
        synced = server.cli("upstream", "sync", "origin-now")
        assert "1 projects synced, 1 new files, 1 fetched" in synced
        yield server
    finally:
        stop_live_server(server, redis)


def test_pip_and_uv_install_through_the_mirror(downstream, upstream_projects, tmp_path):
    lib, app, now = upstream_projects
    clients = Clients.for_server(downstream, tmp_path)
    target = tmp_path / "target"
    clients.pip_install(target, "upinterop-app", "upinterop-now")
    assert clients.call_hello(app.module, path=target) == "upinterop-app 1.0"
    assert clients.call_hello(lib.module, path=target) == "upinterop-lib 1.0"
    assert clients.call_hello(now.module, path=target) == "upinterop-now 1.0"
    python = clients.uv_venv(tmp_path / "venv")
    clients.uv_pip_install(python, "upinterop-app")
    assert clients.call_hello(lib.module, python=python) == "upinterop-lib 1.0"
    listed = downstream.cli("upstream", "list")
    assert "origin\t" in listed and "2 projects" in listed
    assert "origin-now\t" in listed and "immediate" in listed


def test_a_mirror_of_the_mirror_sees_the_upstream_projects(downstream, upstream_projects, tmp_path):
    flavour = FLAVOURS["8"]
    ca, certificate, key = make_certificates(tmp_path / "tls")
    proxy = TlsProxy(urlsplit(downstream.url).port, certificate, key).start()
    try:
        mirror = Bandersnatch(
            flavour, ensure_bandersnatch(flavour), tmp_path / "mirror", proxy.url, ca
        )
        mirror.write_config()
        mirror.config.write_text(mirror.config.read_text() + ONLY_OURS)
        mirror.run("mirror")
    finally:
        proxy.stop()
    lib, app, _ = upstream_projects
    page = json.loads((mirror.web / "simple" / "upinterop-app" / "index.v1_json").read_text())
    assert {f["filename"] for f in page["files"]} == {app.wheel.name, app.sdist.name}
    for f in page["files"]:
        on_disk = (mirror.web / "simple" / "upinterop-app" / f["url"]).resolve()
        assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == f["hashes"]["sha256"]
    # The chain's serials: the mirror's change log names the projects it took from upstream.
    root = requests.get(
        downstream.url + "/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json()
    assert {"upinterop-app", "upinterop-lib"} <= {p["name"] for p in root["projects"]}
    assert root["meta"]["_last-serial"] > 0
