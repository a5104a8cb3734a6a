"""Bytes on the wire for real clients through the CDN, with gzip and without, by hand.

    .venv/bin/python bench/bytes_on_wire.py [--url http://127.0.0.1:8000] [--dependencies 39]

Against ``make serve``'s stack (started as bench/soak.py starts it, unless it already answers
on --url), uploads a tree of fresh projects (a root requiring --dependencies others, so every
run is cold), then puts a counting proxy between the clients and Varnish and runs, each
twice (as the client asks, and with every ``Accept-Encoding`` rewritten to ``identity``):

- ``pip install --no-cache-dir --target`` of the root (pip resolves and fetches all of it);
- ``uv pip install --no-cache --target`` of the root;
- an unmodified bandersnatch 8 mirror of the whole index (through a loopback TLS front),
  with its root listing fetch reported apart.

Counts what crosses the proxy's client side: request heads, response heads and bodies as
sent (a chunked body counted de-chunked). Prints a table of requests and bytes per client and
mode and the saving.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from load_dataset import twine_fields  # noqa: E402
from soak import running_stack  # noqa: E402

from devstack.services import dev_environment, dev_services  # noqa: E402
from tests.support.artifacts import make_wheel  # noqa: E402
from tests.support.bandersnatch import (  # noqa: E402
    FLAVOURS,
    Bandersnatch,
    TlsProxy,
    ensure_bandersnatch,
    make_certificates,
)

VENV_BIN = REPO / ".venv" / "bin"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.up = 0
        self.down = 0
        self.by_path: dict[str, int] = defaultdict(int)

    def add(self, path: str, up: int, down: int) -> None:
        with self.lock:
            self.requests += 1
            self.up += up
            self.down += down
            self.by_path[path] += down


class CountingProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Forwards each request to ``upstream`` and counts the bytes on its client side."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.identity = False
        self.counts = Counts()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def reset(self, identity: bool) -> Counts:
        self.identity, self.counts = identity, Counts()
        return self.counts


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _forward(self) -> None:
        server: CountingProxy = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if server.identity:
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
            headers["Accept-Encoding"] = "identity"
        request_head = (
            len(self.requestline) + 2 + sum(len(k) + len(v) + 4 for k, v in headers.items())
        )
        upstream = http.client.HTTPConnection("127.0.0.1", server.upstream_port, timeout=120)
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        content = response.read()
        upstream.close()
        self.send_response_only(response.status, response.reason)
        sent_head = len(f"HTTP/1.1 {response.status} {response.reason}\r\n")
        for key, value in response.getheaders():
            if key.lower() in HOP_BY_HOP or key.lower() == "content-length":
                continue
            self.send_header(key, value)
            sent_head += len(key) + len(value) + 4
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)
        server.counts.add(self.path.split("?")[0], request_head + length, sent_head + len(content))

    do_GET = do_HEAD = do_POST = _forward


def upload_tree(url: str, token: str, dependencies: int, work: Path) -> str:
    stamp = time.strftime("%H%M%S")
    root = f"wire-root-{stamp}"
    names = [f"wire-dep-{stamp}-{n:02d}" for n in range(dependencies)]
    with requests.Session() as session:
        for name, requires in [*((n, ()) for n in names), (root, names)]:
            path = make_wheel(
                work,
                name,
                "1.0",
                requires_dist=requires,
                metadata_extra={"Description": f"# {name}\n\n" + "A project of the tree. " * 40},
            )
            with path.open("rb") as content:
                response = session.post(
                    f"{url}/legacy/",
                    data=twine_fields(path),
                    files={"content": (path.name, content)},
                    auth=("__token__", token),
                    timeout=120,
                )
            response.raise_for_status()
    return root


def run_client(which: str, index: str, project: str, work: Path) -> None:
    target = Path(tempfile.mkdtemp(dir=work))
    if which == "pip":
        argv = [str(VENV_BIN / "python"), "-m", "pip", "install", "--no-cache-dir", "-q"]
        argv += ["--target", str(target), "--index-url", index, project]
    else:
        argv = [str(VENV_BIN / "uv"), "pip", "install", "--no-cache", "--target", str(target)]
        argv += ["--index-url", index, project]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    shutil.rmtree(target, ignore_errors=True)


def run_bandersnatch(proxy_port: int, work: Path) -> None:
    flavour = FLAVOURS["8"]
    executable = ensure_bandersnatch(flavour)
    folder = Path(tempfile.mkdtemp(dir=work))
    ca, certificate, key = make_certificates(folder / "tls")
    tls = TlsProxy(proxy_port, certificate, key).start()
    try:
        mirror = Bandersnatch(flavour, executable, folder / "mirror", tls.url, ca)
        mirror.run("mirror")
    finally:
        tls.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Varnish, as make serve")
    parser.add_argument("--dependencies", type=int, default=39)
    parser.add_argument("--no-bandersnatch", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warehouse-wire-"))
    rows = []
    with running_stack(args.url):
        env = dev_environment(*dev_services())
        user = f"wire{int(time.time())}"
        warehouse = str(VENV_BIN / "warehouse")
        subprocess.run(
            [warehouse, "user", "create", user, "--email", f"{user}@example.com"]
            + ["--password", "wire-password-1234"],
            env=env,
            check=True,
            capture_output=True,
        )
        token = subprocess.run(
            [warehouse, "token", "create", user],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        project = upload_tree(args.url, token, args.dependencies, work)
        time.sleep(2)  # the cache-store copies of the new files, so no first read falls back
        proxy = CountingProxy(int(args.url.rsplit(":", 1)[1]))
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        index = f"http://127.0.0.1:{proxy.port}/simple/"
        clients = ["pip", "uv"] + ([] if args.no_bandersnatch else ["bandersnatch 8"])
        for which in clients:
            for identity in (False, True):
                counts = proxy.reset(identity)
                started = time.monotonic()
                if which == "bandersnatch 8":
                    run_bandersnatch(proxy.port, work)
                else:
                    run_client(which, index, project, work)
                rows.append((which, identity, counts, time.monotonic() - started))
        proxy.shutdown()
    shutil.rmtree(work, ignore_errors=True)

    print(f"\nbytes on the wire through Varnish (a {args.dependencies + 1}-project tree)")
    print(f"{'client':<16}{'Accept-Encoding':<18}{'requests':>9}{'down bytes':>13}{'up bytes':>11}")
    for which, identity, counts, _ in rows:
        mode = "identity" if identity else "as the client asks"
        print(f"{which:<16}{mode:<18}{counts.requests:>9}{counts.down:>13,}{counts.up:>11,}")
    for which in dict.fromkeys(row[0] for row in rows):
        asked, plain = (row[2] for row in rows if row[0] == which)
        print(f"{which}: {asked.down / plain.down:.0%} of the bytes down without gzip")
        if which == "bandersnatch 8":
            print(
                f"  its root listing fetch: {asked.by_path['/simple/']:,} bytes "
                f"(without gzip {plain.by_path['/simple/']:,})"
            )


if __name__ == "__main__":
    main()
