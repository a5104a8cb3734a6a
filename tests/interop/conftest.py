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
# Projects whose sdist no test looks at are built as wheels only (half the build time).
PROJECTS = {
    "twine": dict(name="interop-twine", version="1.0", requires_python=">=3.8"),
    "uv": dict(name="interop-uv", version="1.0"),
    "chain-a": dict(
        name="interop-chain-a", version="1.0", requires=["interop-chain-b>=1.0"], sdist=False
    ),
    "chain-b": dict(name="interop-chain-b", version="1.0", sdist=False),
    "dupe": dict(name="interop-dupe", version="1.0"),
    # The same wheel filename as "dupe", different bytes.
    "dupe-changed": dict(
        name="interop-dupe", version="1.0", readme="Changed after release.\n", sdist=False
    ),
    # Never uploaded with a token allowed to create it.
    "unclaimed": dict(name="interop-unclaimed", version="1.0", sdist=False),
    "elsewhere": dict(name="interop-elsewhere", version="1.0", sdist=False),
    "pyreq-1": dict(name="interop-pyreq", version="1.0", requires_python=">=3.0", sdist=False),
    "pyreq-2": dict(name="interop-pyreq", version="2.0", requires_python=">=4.0", sdist=False),
    "yank-1": dict(name="interop-yank", version="1.0", sdist=False),
    "yank-2": dict(name="interop-yank", version="2.0", sdist=False),
}


@dataclasses.dataclass(frozen=True)
class Uploader:
    username: str
    token: str


@pytest.fixture(scope="session", autouse=True)
def _dist_builds(tmp_path_factory):
    # Autouse so the builds (seconds of mostly process start-up each) run side by side, and
    # alongside PostgreSQL, migrations and gunicorn starting, rather than after them.
    root = tmp_path_factory.mktemp("interop-dists")
    with ThreadPoolExecutor(max_workers=3) as pool:
        yield {
            key: pool.submit(build_project, root / key, **spec) for key, spec in PROJECTS.items()
        }


@pytest.fixture(scope="session")
def dists(_dist_builds) -> dict[str, Built]:
    return {key: future.result() for key, future in _dist_builds.items()}


@pytest.fixture(scope="session")
def uploader(live_server) -> Uploader:
    live_server.create_user("interop")
    return Uploader("interop", live_server.create_token("interop"))


@pytest.fixture
def clients(live_server, tmp_path) -> Clients:
    return Clients.for_server(live_server, tmp_path)


@pytest.fixture(scope="session")
def published(live_server, uploader, dists, tmp_path_factory) -> Built:
    """interop-twine 1.0, uploaded with twine: the project the read-side tests look at."""
    built = dists["twine"]
    Clients.for_server(live_server, tmp_path_factory.mktemp("publish")).twine_upload(
        uploader.token, built.files
    )
    return built
