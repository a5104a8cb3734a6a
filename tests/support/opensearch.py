"""An OpenSearch API for tests: osmem-server (an in-memory emulator) on a free port."""

from __future__ import annotations

import pytest

from devstack.services import free_port


@pytest.fixture(scope="session")
def opensearch_url():
    from osmem_server import OsmemServer

    # Japanese analysis is not needed and makes start-up slower.
    with OsmemServer.start(addr=f"127.0.0.1:{free_port()}", japanese=False) as server:
        yield server.url
