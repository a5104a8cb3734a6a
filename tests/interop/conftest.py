"""Fixtures for the interop suite: built distributions, an uploader account, the clients.

The live server's database lives for the whole session, so every test publishes projects
under names no other test uses.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.interop.builder import Built, build_project
from tests.interop.clients import Clients

# Every distribution the suite needs, built once per session: key -> build_project arguments.
PROJECTS = {
    "twine": dict(name="interop-twine", version="1.0", requires_python=">=3.8"),
    "uv": dict(name="interop-uv", version="1.0"),
    "chain-a": dict(name="interop-chain-a", version="1.0", requires=["interop-chain-b>=1.0"]),
    "chain-b": dict(name="interop-chain-b", version="1.0"),
    "dupe": dict(name="interop-dupe", version="1.0"),
    # Same filenames as "dupe", different bytes.
    "dupe-changed": dict(name="interop-dupe", version="1.0", readme="Changed after release.\n"),
    # Never uploaded with a token allowed to create it.
    "unclaimed": dict(name="interop-unclaimed", version="1.0"),
    "pyreq-1": dict(name="interop-pyreq", version="1.0", requires_python=">=3.0"),
    "pyreq-2": dict(name="interop-pyreq", version="2.0", requires_python=">=4.0"),
}


@dataclasses.dataclass(frozen=True)
class Uploader:
    username: str
    token: str


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("interop-dists")
    # Each build is a few seconds of mostly process start-up: run them side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            key: pool.submit(build_project, root / key, **spec) for key, spec in PROJECTS.items()
        }
        return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="session")
def uploader(live_server) -> Uploader:
    live_server.create_user("interop")
    return Uploader("interop", live_server.create_token("interop"))


@pytest.fixture
def clients(live_server, tmp_path) -> Clients:
    return Clients(live_server.url, tmp_path)


@pytest.fixture(scope="session")
def published(live_server, uploader, dists, tmp_path_factory) -> Built:
    """interop-twine 1.0, uploaded with twine: the project the read-side tests look at."""
    built = dists["twine"]
    Clients(live_server.url, tmp_path_factory.mktemp("publish")).twine_upload(
        uploader.token, built.files
    )
    return built
