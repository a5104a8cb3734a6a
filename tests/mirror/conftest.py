"""Fixtures for the mirror suite: a corpus of projects on the live server, the TLS front.

The corpus is uploaded once per session and shared by every bandersnatch flavour; each flavour
changes projects of its own (``mirror-<flavour>-*``), so one flavour's changes are simply part
of the index the next one mirrors in full.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.artifacts import form_fields_for, make_sdist, make_wheel
from tests.support.bandersnatch import FLAVOURS, TlsProxy, make_certificates

FILLERS = 50


def filler_name(index: int) -> str:
    # One name that is not PEP 503-normalized: mirrors store it under the normalized name.
    return "Mirror_Mixed.Case" if index == 7 else f"mirror-p{index:02d}"


def build(directory: Path, name: str, version: str, kinds: str) -> list[Path]:
    """``kinds``: "w" for a wheel, "s" for an sdist, "ws" for both."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    if "w" in kinds:
        files.append(make_wheel(directory, name, version))
    if "s" in kinds:
        files.append(make_sdist(directory, name, version))
    return files


@dataclasses.dataclass(frozen=True)
class Uploader:
    url: str
    token: str

    def upload(self, files: list[tuple[str, str, Path]]) -> None:
        """Upload ``(name, version, path)`` files over HTTP, a few at a time, as twine would."""

        def one(item):
            name, version, path = item
            fields = form_fields_for(path, name, version)
            data = [(key, value) for key, values in fields.items() for value in values]
            response = requests.post(
                self.url,
                data=data,
                files={"content": (path.name, path.read_bytes(), "application/octet-stream")},
                auth=("__token__", self.token),
                timeout=120,
            )
            assert response.status_code == 200, (
                f"{path.name}: {response.status_code} {response.text}"
            )

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, files))


@pytest.fixture(scope="session")
def mirror_uploader(live_server) -> Uploader:
    live_server.create_user("mirror")
    return Uploader(live_server.upload_url, live_server.create_token("mirror"))


@pytest.fixture(scope="session")
def corpus(mirror_uploader, tmp_path_factory) -> dict[str, dict[str, list[Path]]]:
    """Every uploaded file: {project name: {version: [paths]}}."""
    root = tmp_path_factory.mktemp("mirror-corpus")
    plan: dict[str, dict[str, str]] = {}
    for index in range(FILLERS):
        kinds = ("w", "s", "ws")[index % 3]
        versions = ("1.0", "1.1") if index % 10 == 0 else ("1.0",)
        plan[filler_name(index)] = {version: kinds for version in versions}
    for key in FLAVOURS:
        plan[f"mirror-{key}-grow"] = {"1.0": "w"}  # gets a new release
        plan[f"mirror-{key}-trim"] = {"1.0": "ws"}  # loses its sdist
        plan[f"mirror-{key}-drop"] = {"1.0": "w", "2.0": "w"}  # loses release 1.0
        plan[f"mirror-{key}-yank"] = {"1.0": "w", "2.0": "w"}  # 2.0 is yanked
    built = {
        name: {v: build(root / name / v, name, v, kinds) for v, kinds in versions.items()}
        for name, versions in plan.items()
    }
    mirror_uploader.upload(
        [(name, v, path) for name, vs in built.items() for v, paths in vs.items() for path in paths]
    )
    return built


@dataclasses.dataclass
class TlsFront:
    url: str
    ca_file: Path


@pytest.fixture(scope="session")
def tls_front(live_server, tmp_path_factory):
    ca, certificate, key = make_certificates(tmp_path_factory.mktemp("mirror-tls"))
    proxy = TlsProxy(urlsplit(live_server.url).port, certificate, key).start()
    try:
        yield TlsFront(proxy.url, ca)
    finally:
        proxy.stop()
