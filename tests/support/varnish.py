"""Varnish with the project's VCL (config/varnish/default.vcl), for tests.

with running_varnish(web_port, uploads_port) as cdn:
    response = cdn.get("/simple/foo/")
    response.headers["X-Cache"]   # "HIT" or "MISS"
    cdn.purge("project/foo")
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from devstack.services import Varnish, free_port


def varnish_installed() -> bool:
    return shutil.which("varnishd") is not None or Path("/usr/sbin/varnishd").exists()


needs_varnish = pytest.mark.skipif(
    not varnish_installed(), reason="varnishd is not installed (bin/bootstrap installs it)"
)


@dataclasses.dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def x_cache(self) -> str | None:
        return self.headers.get("X-Cache")


@dataclasses.dataclass
class CDN:
    varnish: Varnish

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.varnish.port}"

    def request(
        self, method: str, path: str, headers: dict | None = None, body: bytes | None = None
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.varnish.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, path: str, headers: dict | None = None) -> Answer:
        return self.request("GET", path, headers)

    def purge(self, *keys: str) -> Answer:
        return self.request("PURGE", "/", {"Surrogate-Key": " ".join(keys)})


@contextlib.contextmanager
def running_varnish(web_port: int, uploads_port: int, port: int | None = None):
    # Not under pytest's basetemp: that is private to root, and Varnish reads its VCL and
    # keeps its work folder as the varnish user.
    root = Path(tempfile.mkdtemp(prefix="warehouse-varnish-"))
    os.chmod(root, 0o755)
    varnish = Varnish(root, port or free_port(), web_port, uploads_port, memory="64m")
    varnish.start()
    try:
        yield CDN(varnish)
    finally:
        varnish.stop()
        shutil.rmtree(root, ignore_errors=True)
