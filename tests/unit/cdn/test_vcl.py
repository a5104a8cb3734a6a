"""config/varnish/default.vcl in a real Varnish, in front of two scripted backends."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.varnish import needs_varnish, running_varnish
from tests.support.waiting import wait_for

pytestmark = [needs_varnish, pytest.mark.xdist_group("varnish")]

JSON = "application/vnd.pypi.simple.v1+json"


class Backend:
    """An app stand-in: answers per path, counts what reached it, can be made to fail."""

    def __init__(self):
        self.hits: list[tuple[str, str]] = []
        self.sick = False
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body = backend.route(self)
                if self.path != "/_health/":
                    backend.hits.append((self.command, self.path))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.hits if p == path)

    def route(self, request):
        if self.sick:
            return 503, {}, b"down"
        path = request.path
        n = self.count(path)
        if path == "/_health/":
            return 200, {"Cache-Control": "no-store"}, b"ok"
        if path.startswith("/simple/"):
            project = path.split("/")[2]
            age = "1" if project == "short" else "600"
            accept = request.headers.get("Accept", "")
            kind = "json" if "json" in accept else "html"
            return (
                200,
                {
                    "Content-Type": JSON if kind == "json" else "text/html; charset=utf-8",
                    "Vary": "Accept",
                    "Cache-Control": "max-age=600, public",
                    "Surrogate-Key": f"simple project/{project}",
                    "Surrogate-Control": f"max-age={age}",
                },
                f"{project} {kind} #{n}".encode(),
            )
        if path.startswith("/account/"):
            return (
                200,
                {"Set-Cookie": "session=x", "Surrogate-Control": "max-age=600"},
                f"account #{n}".encode(),
            )
        if path.startswith("/packages/missing"):
            return 404, {"Cache-Control": "no-store"}, b"Not Found"
        if path.startswith("/packages/"):
            headers = {
                "Content-Type": "application/octet-stream",
                "Surrogate-Control": "max-age=600",
            }
            return 200, headers, b"PK\x03\x04 a wheel's bytes"
        return 200, {}, f"{request.command} {path} #{n}".encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def backends():
    web, uploads = Backend(), Backend()
    yield web, uploads
    web.close()
    uploads.close()


@pytest.fixture(scope="module")
def cdn(backends):
    web, uploads = backends
    with running_varnish(web.port, uploads.port) as cdn:
        yield cdn


@pytest.fixture(autouse=True)
def _fresh(cdn, backends):
    for backend in backends:
        backend.hits.clear()
        backend.sick = False
    cdn.purge("simple")
    yield


def test_pages_are_cached_until_their_surrogate_key_is_purged(cdn, backends):
    first = cdn.get("/simple/a/")
    assert (first.status, first.x_cache, first.body) == (200, "MISS", b"a html #0")
    again = cdn.get("/simple/a/")
    assert (again.x_cache, again.body) == ("HIT", b"a html #0")
    # The CDN's headers stay at the CDN; browsers still get Cache-Control.
    for header in ("Surrogate-Key", "Surrogate-Control", "xkey"):
        assert header not in again.headers
    assert again.headers["Cache-Control"] == "max-age=600, public"
    assert cdn.get("/simple/b/").x_cache == "MISS"

    purge = cdn.purge("project/a")
    assert purge.status == 200 and b"Purged 1" in purge.body
    assert cdn.get("/simple/a/").body == b"a html #1"
    assert cdn.get("/simple/b/").x_cache == "HIT"


def test_text_is_kept_gzipped_and_sent_plain_to_clients_that_do_not_accept_gzip(cdn, backends):
    web, _ = backends
    zipped = cdn.get("/simple/z/", {"Accept": JSON, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == b"z json #0"
    assert "Accept-Encoding" in zipped.headers["Vary"] and "Accept" in zipped.headers["Vary"]
    # The same stored object, unzipped for a client that did not ask for gzip.
    plain = cdn.get("/simple/z/", {"Accept": JSON})
    assert (plain.x_cache, plain.body) == ("HIT", b"z json #0")
    assert "Content-Encoding" not in plain.headers
    assert web.count("/simple/z/") == 1
    # Distributions are archives: sent as they are, whatever the client accepts.
    wheel = cdn.get("/packages/ab/cd/x-1.0-py3-none-any.whl", {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in wheel.headers
    assert wheel.body == b"PK\x03\x04 a wheel's bytes"


def test_each_accept_variant_is_cached_apart(cdn):
    html, json = cdn.get("/simple/v/"), cdn.get("/simple/v/", {"Accept": JSON})
    assert (html.x_cache, json.x_cache) == ("MISS", "MISS")
    assert cdn.get("/simple/v/").body == b"v html #0"
    hit = cdn.get("/simple/v/", {"Accept": JSON})
    assert (hit.x_cache, hit.body) == ("HIT", b"v json #1")
    # One purge of the project's key drops every variant.
    assert b"Purged 2" in cdn.purge("project/v").body


def test_uploads_go_to_the_uploads_app_and_are_never_cached(cdn, backends):
    web, uploads = backends
    for _ in range(2):
        answer = cdn.request("POST", "/legacy/", {"Content-Type": "text/plain"}, b"payload")
        assert answer.status == 200 and answer.x_cache == "MISS"
    assert cdn.get("/legacy/").x_cache == "MISS"
    assert uploads.hits == [("POST", "/legacy/"), ("POST", "/legacy/"), ("GET", "/legacy/")]
    assert web.hits == []
    cdn.request("POST", "/account/login/", {"Content-Type": "text/plain"}, b"x")
    assert web.hits == [("POST", "/account/login/")]


def test_an_oversized_upload_is_refused_before_its_body_is_read(cdn, backends):
    with socket.create_connection(("127.0.0.1", cdn.varnish.port), timeout=10) as sock:
        sock.sendall(
            b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\n"
            b"Content-Length: 5000000000\r\n\r\n"
        )
        assert sock.recv(200).startswith(b"HTTP/1.1 413")
    assert backends[1].hits == []


def test_responses_that_set_a_cookie_are_not_cached(cdn, backends):
    assert cdn.get("/account/").body == b"account #0"
    assert cdn.get("/account/").body == b"account #1"


def test_errors_marked_no_store_are_not_cached(cdn, backends):
    for _ in range(2):
        assert cdn.get("/packages/missing").status == 404
    assert backends[0].count("/packages/missing") == 2


def test_admin_pages_and_the_reports_api_are_never_cached(cdn, backends):
    # The stand-in answers these with no cache headers: Varnish alone would keep them.
    for path in ("/admin/", "/admin/users/alice/", "/danger-api/projects/x/observations"):
        for _ in range(2):
            answer = cdn.get(path)
            assert (answer.status, answer.x_cache) == (200, "MISS")
        assert backends[0].count(path) == 2


def test_stale_pages_are_served_only_while_the_app_is_down(cdn, backends):
    web, _ = backends
    assert cdn.get("/simple/short/").body == b"short html #0"
    time.sleep(1.5)
    # Expired and the app is up: refetched before answering, not served stale.
    assert cdn.get("/simple/short/").body == b"short html #1"
    time.sleep(1.5)
    web.sick = True
    try:
        # Once the health probe sees the app down, the expired copy is served instead.
        answer = wait_for(lambda: (a := cdn.get("/simple/short/")).status == 200 and a, timeout=15)
        assert answer.body == b"short html #1"
        assert cdn.get("/simple/never-cached/").status == 503
    finally:
        web.sick = False
