"""A small HTTP server that records the requests it gets: a stand-in for Fastly's API."""

from __future__ import annotations

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


class Recorder:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.status = 200
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                recorder.requests.append(Recorded(self.command, self.path, dict(self.headers)))
                body = b'{"status": "ok"}'
                self.send_response(recorder.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PURGE = do_GET = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, method: str = "POST") -> list[str]:
        return sorted(r.path for r in self.requests if r.method == method)


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.server.shutdown()
    server.server.server_close()
