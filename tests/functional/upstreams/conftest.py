"""Upstreams for the tests: another instance of this index (the live server) and a plain
PEP 503 folder served over HTTP that a test can stop, or tamper with."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import requests

from tests.support.artifacts import form_fields_for, make_sdist, make_wheel


@dataclasses.dataclass
class InstanceUpstream:
    """The live server as an upstream, with an account that can upload to it."""

    server: object
    token: str
    workdir: Path

    @property
    def simple_url(self) -> str:
        return self.server.url + "/simple/"

    def publish(self, name: str, version: str, kinds: str = "ws") -> list[Path]:
        directory = self.workdir / f"{name}-{version}"
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        if "w" in kinds:
            paths.append(make_wheel(directory, name, version))
        if "s" in kinds:
            paths.append(make_sdist(directory, name, version))
        for path in paths:
            fields = form_fields_for(path, name, version)
            data = [(k, v) for k, values in fields.items() for v in values]
            response = requests.post(
                self.server.upload_url,
                data=data,
                files={"content": (path.name, path.read_bytes(), "application/octet-stream")},
                auth=("__token__", self.token),
                timeout=120,
            )
            assert response.status_code == 200, response.text
        return paths


@pytest.fixture(scope="session")
def instance_upstream(live_server, tmp_path_factory) -> InstanceUpstream:
    live_server.create_user("upstreamer")
    return InstanceUpstream(
        live_server, live_server.create_token("upstreamer"), tmp_path_factory.mktemp("up")
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    hits: dict[str, int]
    gates: dict[str, tuple[int, threading.Event]]

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802 - the base class's name
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path in self.gates:
            self._send_gated(*self.gates[self.path])
        else:
            super().do_GET()

    def _send_gated(self, first: int, gate: threading.Event) -> None:
        """The file's first bytes, then the rest once the test opens the gate."""
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:first])
        self.wfile.flush()
        gate.wait(30)
        self.wfile.write(data[first:])


class StaticFolder:
    """``<root>/simple/<name>/index.html`` pages linking to ``<root>/files/<filename>``."""

    def __init__(self, root: Path):
        self.root = root
        (root / "simple").mkdir(parents=True)
        (root / "files").mkdir()
        self.server = None
        self.port = 0
        self.projects: dict[str, list[str]] = {}
        self.hits: dict[str, int] = {}  # requests per path
        self.gates: dict[str, tuple[int, threading.Event]] = {}

    def gate(self, filename: str, first: int) -> threading.Event:
        """Send ``filename``'s first ``first`` bytes, then the rest once the event is set."""
        event = threading.Event()
        self.gates[f"/files/{filename}"] = (first, event)
        return event

    def start(self) -> StaticFolder:
        handler_class = type("Handler", (_Quiet,), {"hits": self.hits, "gates": self.gates})
        handler = functools.partial(handler_class, directory=str(self.root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def add(self, name: str, path: Path) -> str:
        target = self.root / "files" / path.name
        target.write_bytes(path.read_bytes())
        self.projects.setdefault(name, []).append(path.name)
        self._write_pages()
        return hashlib.sha256(target.read_bytes()).hexdigest()

    def _write_pages(self) -> None:
        index = ["<!DOCTYPE html><html><body>"]
        for name, filenames in self.projects.items():
            index.append(f'<a href="{name}/">{name}</a>')
            links = []
            for filename in filenames:
                digest = hashlib.sha256((self.root / "files" / filename).read_bytes()).hexdigest()
                links.append(f'<a href="../../files/{filename}#sha256={digest}">{filename}</a>')
            page = self.root / "simple" / name
            page.mkdir(exist_ok=True)
            (page / "index.html").write_text(
                "<!DOCTYPE html><html><body>" + "<br/>".join(links) + "</body></html>"
            )
        index.append("</body></html>")
        (self.root / "simple" / "index.html").write_text("\n".join(index))


@pytest.fixture
def static_folder(tmp_path):
    folder = StaticFolder(tmp_path / "static-upstream").start()
    yield folder
    folder.stop()
