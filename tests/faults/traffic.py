"""Real requests through the CDN while a fault happens, and what each one got.

Uploads are the multipart POSTs twine sends to /legacy/ (with an API token); reads are the
simple page, the JSON API and the download of a file uploaded before the fault. A request
that takes longer than ``HUNG`` counts as hung: a fault must be answered, not waited out.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import itertools
import secrets
import threading
import time
from pathlib import Path

from tests.support.artifacts import form_fields_for, make_wheel
from warehouse.storage.keys import content_key

HUNG = 30.0
_counter = itertools.count()


@dataclasses.dataclass(frozen=True)
class Outcome:
    kind: str  # "upload" or "read"
    what: str
    status: int | None  # None: no HTTP answer at all (connection dropped, timed out)
    reason: str
    seconds: float
    body: bytes = b""

    @property
    def clear(self) -> bool:
        """Succeeded, or refused with a 503 that says why; never a 500 or no answer."""
        if self.status is None or self.seconds >= HUNG:
            return False
        if self.status == 503:
            return bool(self.reason.strip()) and self.reason != "Service Unavailable"
        return 200 <= self.status < 400 or self.status == 404

    started: float = 0.0  # time.time(), to find the request in the servers' logs

    def __str__(self) -> str:
        at = time.strftime("%H:%M:%S", time.gmtime(self.started))
        return (
            f"{self.kind} {self.what} at {at}: {self.status} {self.reason!r} in {self.seconds:.1f}s"
        )


def _multipart(fields: dict[str, list[str]], path: Path) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    parts = []
    for name, values in fields.items():
        for value in values:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
            )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + path.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(port: int, method: str, path: str, *, headers=None, body=None) -> Outcome:
    started, wall = time.monotonic(), time.time()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HUNG)
    kind = "upload" if method == "POST" else "read"
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        content = response.read()
        return Outcome(
            kind, path, response.status, response.reason, time.monotonic() - started, content, wall
        )
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(kind, path, None, repr(exc), time.monotonic() - started, started=wall)
    finally:
        connection.close()


def wheel(tmp_path: Path, name: str, size: int = 0) -> Path:
    """A new wheel of ``name`` (a fresh version each call), padded to about ``size`` bytes."""
    version = f"1.{next(_counter)}.{secrets.randbelow(10**6)}"
    folder = tmp_path / f"w{next(_counter)}"
    folder.mkdir()
    extra = {"pad.bin": secrets.token_bytes(size)} if size else None
    return make_wheel(folder, name, version, extra_files=extra)


def blob_key(path: Path) -> str:
    """Where the index stores an uploaded file (its content address)."""
    return content_key(hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest(), path.name)


def upload(stack, path: Path) -> Outcome:
    name, version = path.name.split("-")[:2]
    fields = form_fields_for(path, name, version)
    body, content_type = _multipart(fields, path)
    credentials = base64.b64encode(f"__token__:{stack.topology.token}".encode()).decode()
    outcome = request(
        stack.topology.cdn.varnish.port,
        "POST",
        "/legacy/",
        headers={
            "Content-Type": content_type,
            "Authorization": f"Basic {credentials}",
            "User-Agent": "faults-test",
        },
        body=body,
    )
    return dataclasses.replace(outcome, what=path.name)


def read(stack, path: str, accept: str = "application/vnd.pypi.simple.v1+json") -> Outcome:
    return request(stack.topology.cdn.varnish.port, "GET", path, headers={"Accept": accept})


class Traffic:
    """Uploads and reads in threads, each in a loop, until stopped; every outcome is kept."""

    def __init__(self, stack, tmp_path: Path, project: str, reads: list[str], uploads: int = 1):
        self.stack = stack
        self.tmp_path = tmp_path
        self.project = project
        self.reads = reads
        self.outcomes: list[Outcome] = []
        self.uploaded: list[Path] = []  # answered 200
        self.attempted: list[Path] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._upload_loop) for _ in range(uploads)]
        self._threads.append(threading.Thread(target=self._read_loop))

    def _keep(self, outcome: Outcome, path: Path | None = None) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            if path is not None:
                self.attempted.append(path)
                if outcome.status == 200:
                    self.uploaded.append(path)

    def _upload_loop(self) -> None:
        while not self._stop.is_set():
            path = wheel(self.tmp_path, self.project)
            self._keep(upload(self.stack, path), path)
            time.sleep(0.05)

    def _read_loop(self) -> None:
        for n, path in enumerate(itertools.cycle(self.reads)):
            if self._stop.is_set():
                return
            # A path ending in "=" gets a new query each time: past the CDN, to the app.
            self._keep(read(self.stack, f"{path}{n}" if path.endswith("=") else path))
            time.sleep(0.02)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(HUNG + 5)

    def of(self, kind: str) -> list[Outcome]:
        with self._lock:
            return [outcome for outcome in self.outcomes if outcome.kind == kind]

    def unclear(self) -> list[Outcome]:
        with self._lock:
            return [outcome for outcome in self.outcomes if not outcome.clear]

    def refused(self, kind: str) -> list[Outcome]:
        return [outcome for outcome in self.of(kind) if outcome.status == 503]


def assert_answered_clearly(load: Traffic) -> None:
    """Every request got an answer in time: success, or a 503 that says why."""
    unclear = load.unclear()
    assert not unclear, "answers that were not clear:\n" + "\n".join(map(str, unclear[:20]))
