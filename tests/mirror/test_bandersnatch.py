"""Unmodified bandersnatch mirrors the index completely, follows its changes exactly, verifies,
and pip installs from the result.

bandersnatch 6.8 finds changes through XML-RPC (``list_packages_with_serial``, then
``changelog_since_serial``); 8.x through the JSON simple index's ``_last-serial``. Both read
``/pypi/<name>/json`` and download from ``/packages/``, through a loopback TLS front.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import requests
from packaging.utils import canonicalize_name

from tests.interop.clients import Clients
from tests.mirror.conftest import build
from tests.support.bandersnatch import (
    FLAVOURS,
    Bandersnatch,
    ensure_bandersnatch,
    log_problems,
    serve_directory,
)

pytestmark = [pytest.mark.mirror, pytest.mark.xdist_group("interop")]

SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
# One file link of a simple HTML page as bandersnatch writes it.
HTML_LINK = re.compile(r'<a href="[^"#]+#sha256=([0-9a-f]{64})"([^>]*)>([^<]+)</a>')

# What each project's page says about its files: {filename: (sha256, yanked)}.
Files = dict[str, tuple[str, bool]]


def index_state(url: str) -> dict[str, Files]:
    """Every project of the index and its files, as the index's own JSON simple API lists them."""
    with requests.Session() as session:
        root = session.get(f"{url}/simple/", headers=SIMPLE_JSON, timeout=60)
        root.raise_for_status()
        state = {}
        for project in root.json()["projects"]:
            name = canonicalize_name(project["name"])
            page = session.get(f"{url}/simple/{name}/", headers=SIMPLE_JSON, timeout=60)
            page.raise_for_status()
            state[name] = {
                f["filename"]: (f["hashes"]["sha256"], bool(f["yanked"]))
                for f in page.json()["files"]
            }
    return state


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mirror_files(web: Path, name: str) -> Files:
    """A project's files as the mirror's JSON page lists them; the HTML page must agree, and
    each file must be on disk with the listed sha256."""
    folder = web / "simple" / name
    if not folder.exists():
        return {}
    page = json.loads((folder / "index.v1_json").read_text())
    files = {f["filename"]: (f["hashes"]["sha256"], bool(f["yanked"])) for f in page["files"]}
    html = (folder / "index.html").read_text()
    from_html = {
        filename: (digest, "data-yanked" in attrs)
        for digest, attrs, filename in HTML_LINK.findall(html)
    }
    assert from_html == files, f"{name}: the mirror's HTML and JSON pages differ"
    for f in page["files"]:
        path = (folder / f["url"]).resolve()
        assert path.is_file(), f"{name}: {f['filename']} is listed but not mirrored"
        assert sha256_of(path) == f["hashes"]["sha256"], f"{name}: {f['filename']} is corrupt"
        # bandersnatch 8 mirrors PEP 658 metadata when /pypi/<name>/json advertises it.
        if isinstance(f.get("core-metadata"), dict):
            sidecar = path.with_name(path.name + ".metadata")
            assert sha256_of(sidecar) == f["core-metadata"]["sha256"], f"{name}: {sidecar.name}"
    return files


def assert_mirror_matches(web: Path, index: dict[str, Files]) -> None:
    mirrored = {name: mirror_files(web, name) for name in index}
    assert mirrored == index
    # The mirror's root page lists every project that has files, and nothing else.
    root = json.loads((web / "simple" / "index.v1_json").read_text())
    assert {p["name"] for p in root["projects"]} == {name for name, files in index.items() if files}


def files_on_disk(web: Path) -> set[str]:
    """The distributions in the mirror (PEP 658 sidecars are checked with their files)."""
    return {
        path.name
        for path in (web / "packages").rglob("*")
        if path.is_file() and not path.name.endswith(".metadata")
    }


def assert_clean_log(log: str) -> None:
    """bandersnatch carries on (exit status 0) after many errors: its log must be clean."""
    assert not log_problems(log), "bandersnatch flagged:\n" + "\n".join(log_problems(log))


@pytest.fixture(params=sorted(FLAVOURS), ids=lambda key: f"bandersnatch{key}")
def flavour(request):
    return FLAVOURS[request.param]


def test_bandersnatch_mirrors_follows_changes_verifies_and_serves_pip(
    flavour, live_server, corpus, mirror_uploader, tls_front, tmp_path
):
    mirror = Bandersnatch(
        flavour,
        ensure_bandersnatch(flavour),
        tmp_path / "mirror",
        master=tls_front.url,
        ca_file=tls_front.ca_file,
    )
    key = flavour.key
    grow, trim, drop, yank = (f"mirror-{key}-{what}" for what in ("grow", "trim", "drop", "yank"))

    # A full mirror: every project, every file, correct hashes.
    assert_clean_log(mirror.run("mirror"))
    before = index_state(live_server.url)
    assert {canonicalize_name(name) for name in corpus} <= set(before)
    assert_mirror_matches(mirror.web, before)

    # Changes of every kind a mirror must follow.
    grown = build(tmp_path / "grow-2.0", grow, "2.0", "ws")
    mirror_uploader.upload([(grow, "2.0", path) for path in grown])
    trimmed = next(p.name for p in corpus[trim]["1.0"] if p.name.endswith(".tar.gz"))
    live_server.cli("project", "delete-file", trimmed)
    live_server.cli("project", "delete-release", drop, "1.0")
    live_server.cli("project", "yank", yank, "2.0", "--reason", "Broken build")

    # An incremental mirror picks up exactly those changes, and nothing else.
    log = mirror.run("mirror")
    after = index_state(live_server.url)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {grow, trim, drop, yank}, (
        "the index's own simple pages do not show every change; bandersnatch said:\n"
        + "\n".join(log_problems(log))
    )
    assert_clean_log(log)
    assert_mirror_matches(mirror.web, after)
    written = mirror.changed_paths()
    rewritten_pages = {p.parts[1] for p in written if p.parts[0] == "simple" and len(p.parts) > 2}
    assert rewritten_pages == {grow, trim, drop, yank}
    downloaded = {p.name.removesuffix(".metadata") for p in written if p.parts[0] == "packages"}
    assert downloaded == {path.name for path in grown}
    assert 'data-yanked="Broken build"' in (mirror.web / "simple" / yank / "index.html").read_text()

    # verify re-reads every project's JSON through TLS, repairs a damaged file and, with
    # --delete, removes the files the index no longer has.
    damaged = next(iter(sorted((mirror.web / "packages").rglob("mirror_p01-*"))))
    good = damaged.read_bytes()
    damaged.write_bytes(b"\0" * len(good))
    assert_clean_log(mirror.run("verify", "--json-update", "--delete"))
    assert damaged.read_bytes() == good
    assert_mirror_matches(mirror.web, after)
    assert files_on_disk(mirror.web) == {name for files in after.values() for name in files}

    # pip installs from the mirror's own pages: the new release, and not the yanked one.
    with serve_directory(mirror.web) as url:
        Clients(url, tmp_path / "pip").pip_install(tmp_path / "site", grow, yank)
    installed = {path.name for path in (tmp_path / "site").glob("*.dist-info")}
    assert installed == {f"mirror_{key}_grow-2.0.dist-info", f"mirror_{key}_yank-1.0.dist-info"}
