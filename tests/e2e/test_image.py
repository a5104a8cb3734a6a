"""The production image, as the Dockerfile builds it and docker-compose.yml runs it.

No Docker engine here: tests/support/image.py lays out the image's root filesystem from the
Dockerfile (the package installed non-editable into a fresh venv, config/ in /app) and runs
compose's migrate, web, web-uploads, worker and beat from it, as an unprivileged user with
the checkout out of reach, against real PostgreSQL, Redis, SeaweedFS, OpenSearch (emulated),
SMTP and Varnish. Then twine uploads through Varnish to the uploads app and pip installs
through Varnish from the web app; /metrics answers on the apps' own ports only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_lib

from devstack.services import Redis, free_ports
from tests.interop.builder import build_project
from tests.interop.clients import Clients
from tests.support.image import ImageLayout, base_python
from tests.support.mail import smtp_server_session
from tests.support.opensearch import opensearch_url
from tests.support.varnish import running_varnish, varnish_installed
from tests.support.waiting import wait_for
from warehouse.settings import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
__all__ = ["opensearch_url", "smtp_server_session"]  # fixtures, imported to be found

APPS = ("web", "web-uploads", "worker", "beat")
# Where a compose app listens in its container; each gets a port of its own here.
CONTAINER_BIND = "0.0.0.0:8000"
# What a failed write outside the container's /tmp leaves in a log, even when swallowed.
WRITE_REFUSED = ("Permission denied", "Read-only file system", "PermissionError")


def _request(url: str, *, source: str = "127.0.0.1", body: bytes | None = None, headers=None):
    """(status, headers, body), from ``source``: another loopback address is another client."""
    host, _, rest = url.removeprefix("http://").partition("/")
    hostname, port = host.split(":")
    connection = http.client.HTTPConnection(
        hostname, int(port), timeout=30, source_address=(source, 0)
    )
    try:
        connection.request("POST" if body else "GET", "/" + rest, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _files_under(root: Path) -> dict[str, int]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in files + dirs:
            path = os.path.join(folder, name)
            found[path] = os.lstat(path).st_mtime_ns
    return found


class Containers:
    """The compose services started from the laid-out image, each with its log."""

    def __init__(self, image: ImageLayout):
        self.image = image
        self.processes: dict[str, subprocess.Popen] = {}
        self.environments: dict[str, dict[str, str]] = {}

    def log(self, name: str) -> Path:
        return self.image.root / f"{name}.log"

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{self.log(name).read_text(errors='replace')[-3000:]}"
            for name in self.environments
            if self.log(name).exists()
        )

    def start(self, name: str, env: dict[str, str], argv: list[str] | None = None):
        self.environments[name] = env
        argv = argv or self.image.service_command(name)
        with self.log(name).open("ab") as log:
            process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, **self.image.popen_kwargs(name)
            )
        self.processes[name] = process
        return process

    def run(self, name: str, env: dict[str, str], argv: list[str] | None = None) -> str:
        """A one-off container (``docker compose run``): its standard output once it ended."""
        self.environments[name] = env
        argv = argv or self.image.service_command(name)
        with self.log(name).open("ab") as log:
            result = subprocess.run(
                argv,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                timeout=180,
                **self.image.popen_kwargs(name),
            )
        output = result.stdout.decode(errors="replace")
        assert result.returncode == 0, f"{name} exited {result.returncode}:\n{output}{self.logs()}"
        return output

    def stop(self) -> None:
        # As `docker compose stop`: SIGTERM to each container's main process, then SIGKILL.
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# Per checkout: the image is laid out at the same place each run, so that the services'
# bytecode cache (standing in for the image's compiled bytecode) serves the next run too.
CHECKOUT = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:8]
PYCACHE = Path(tempfile.gettempdir()) / f"warehouse-image-pycache-{CHECKOUT}"


@pytest.fixture(scope="session")
def image() -> ImageLayout:
    """The image, being built while the servers the test asks for start."""
    # Not under pytest's basetemp: that is private to root, and the services run as nobody.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    root = Path(tempfile.gettempdir()) / f"warehouse-image-{CHECKOUT}-{worker}"
    shutil.rmtree(root, ignore_errors=True)
    layout = ImageLayout(root)
    with ThreadPoolExecutor(max_workers=1) as pool:
        layout.building = pool.submit(layout.build)
        yield layout
    shutil.rmtree(root, ignore_errors=True)


def test_the_image_runs_compose_services_for_twine_and_pip(
    image, postgres, seaweedfs, opensearch_url, smtp_server_session, tmp_path
):
    if not varnish_installed():
        pytest.skip("varnishd is not installed (bin/bootstrap installs it)")
    if os.geteuid() == 0 and not _others_may_run(base_python()):
        pytest.skip(f"{base_python()} is not for every user: the services run as nobody")
    started = time.monotonic()
    laps: list[str] = []

    def lap(what: str) -> None:
        laps.append(f"{what} {time.monotonic() - started:.1f}s")

    # -- the Dockerfile ------------------------------------------------------------------------
    assert image.user and image.user not in {"root", "0"} and not image.user.startswith("0:")
    for stage in image.stages:
        # The base is the official Python image of the version the suite runs, or a stage.
        assert stage.base.startswith(f"python:{sys.version_info[0]}.{sys.version_info[1]}-")
    project = ThreadPoolExecutor(max_workers=1).submit(
        build_project, tmp_path, "image-hello", "1.0", sdist=False
    )
    image.building.result()
    lap("built")
    venv = image.image / "opt" / "venv"
    site_packages = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    installed = site_packages / "site-packages" / "warehouse"
    assert (installed / "migrations" / "versions").is_dir(), "migrations are not in the package"
    assert not (site_packages / "site-packages" / "__editable__.warehouse-0.1.0.pth").exists()
    assert not list((site_packages / "site-packages").glob("*.egg-link"))
    assert sorted(p.name for p in image.image.iterdir()) == ["app", "opt"]
    assert (image.image / "app" / "config" / "gunicorn-web.conf.py").exists()
    # The Dockerfile's own command (web) names what /app holds.
    assert any((image.image / "app" / w).exists() for c in image.cmd for w in c.split())

    # -- the servers compose would start -------------------------------------------------------
    database = f"image_{secrets.token_hex(4)}"
    postgres.create_database(database)
    redis_port, varnish_port, web_port, uploads_port, worker_metrics, beat_metrics = free_ports(6)
    redis = Redis(image.root / "redis", redis_port)
    redis.start()
    lap("servers")
    archive_bucket, cache_bucket = (f"image-{secrets.token_hex(5)}" for _ in range(2))
    cdn_url = f"http://127.0.0.1:{varnish_port}"
    # The compose network's addresses and credentials, as this machine's servers have them.
    addresses = {
        "DATABASE_URL": postgres.url(database),
        "REDIS_URL": redis.url(0),
        "WAREHOUSE_SITE_URL": cdn_url,
        "WAREHOUSE_PORT": str(varnish_port),
        "WAREHOUSE_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
        "WAREHOUSE_S3_BUCKET": archive_bucket,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "WAREHOUSE_CACHE_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
        "WAREHOUSE_CACHE_S3_BUCKET": cache_bucket,
        "WAREHOUSE_CACHE_ACCESS_KEY_ID": seaweedfs.access_key,
        "WAREHOUSE_CACHE_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "WAREHOUSE_CDN_VARNISH_URL": cdn_url,
        "WAREHOUSE_OPENSEARCH_URL": opensearch_url,
        "WAREHOUSE_SMTP_HOST": smtp_server_session.host,
        "WAREHOUSE_SMTP_PORT": str(smtp_server_session.port),
        # Varnish's address here (compose gives it a fixed one on its network).
        "WAREHOUSE_TRUSTED_PROXIES": "127.0.0.1",
    }
    ports = {"web": web_port, "web-uploads": uploads_port}
    metrics_ports = {
        "worker": ("WAREHOUSE_WORKER_METRICS_PORT", worker_metrics),
        "beat": ("WAREHOUSE_BEAT_METRICS_PORT", beat_metrics),
    }

    def environment(name: str) -> dict[str, str]:
        overrides = dict(addresses)
        if name in metrics_ports:
            key, port = metrics_ports[name]
            overrides[key] = str(port)
        env = image.service_environment(name, overrides)
        if name in ports:
            env = {k: v.replace(CONTAINER_BIND, f"127.0.0.1:{ports[name]}") for k, v in env.items()}
        # The image's bytecode is compiled at build time (UV_COMPILE_BYTECODE); the layout
        # skips that (half a minute), so the services keep a cache in place of it.
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        # Nothing may point back at the checkout.
        leaks = {k: v for k, v in env.items() if str(REPO_ROOT) in v}
        assert not leaks, leaks
        return env

    def command(name: str) -> list[str]:
        argv = image.service_command(name)
        if name in ports:
            assert any(CONTAINER_BIND in part for part in argv), argv
            argv = [part.replace(CONTAINER_BIND, f"127.0.0.1:{ports[name]}") for part in argv]
        return argv

    PYCACHE.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chown(PYCACHE, *pwd.getpwnam("nobody")[2:4])
    containers = Containers(image)
    try:
        before = _files_under(image.image)

        # -- migrate: the schema from the installed package, and the two buckets ---------------
        env = environment("migrate")
        where = containers.run(
            "where",
            env,
            [
                "python",
                "-c",
                "import warehouse, shutil; print(warehouse.__file__, shutil.which('warehouse'))",
            ],
        )
        assert f"{installed}/__init__.py {venv}/bin/warehouse" in where, where
        containers.run("migrate", env, command("migrate"))
        tables = postgres.psql(database, "SELECT count(*) FROM alembic_version")
        assert tables.strip() == "1", tables
        buckets = {b["Name"] for b in seaweedfs.client().list_buckets()["Buckets"]}
        assert {archive_bucket, cache_bucket} <= buckets
        lap("migrated")

        # -- web, web-uploads, worker, beat; Varnish in front ---------------------------------
        for name in APPS:
            containers.start(name, environment(name), command(name))
        # Meanwhile, an uploader and a token with the image's CLI, in one process (as
        # `docker compose run web python -c ...` would); production asks uploaders for
        # two-factor, so this one has enrolled an authenticator.
        account = (
            "import os, sys, sqlalchemy as sa\n"
            "from warehouse.cli import main\n"
            "from warehouse.cli.context import session_scope\n"
            "from warehouse.accounts.models import User\n"
            "main(['user', 'create', 'imaged', '--email', 'i@example.com', '--password',"
            " sys.argv[1]], standalone_mode=False)\n"
            "with session_scope() as session:\n"
            "    user = session.scalars(sa.select(User).filter_by(username='imaged')).one()\n"
            "    user.totp_secret = os.urandom(20)\n"
            "main(['token', 'create', 'imaged'], standalone_mode=False)\n"
        )
        output = containers.run(
            "cli", environment("web"), ["python", "-c", account, secrets.token_urlsafe(12)]
        )
        assert output.startswith("created user imaged\n"), output
        token = output.strip().splitlines()[-1]
        lap("account")

        for name, port in ports.items():
            wait_for(
                lambda port=port, name=name: (
                    containers.processes[name].poll() is not None or _health(port)
                ),
                120,
                interval=0.2,
                message=f"{name} did not answer /_health/:\n{containers.logs()}",
            )
            assert containers.processes[name].poll() is None, containers.logs()
        for name, marker in (("worker", b"ready."), ("beat", b"Starting...")):
            wait_for(
                lambda name=name, marker=marker: (
                    marker in containers.log(name).read_bytes()
                    or containers.processes[name].poll() is not None
                ),
                90,
                interval=0.2,
                message=f"{name} did not start:\n{containers.logs()}",
            )
            assert containers.processes[name].poll() is None, containers.logs()

        lap("services up")
        with running_varnish(web_port, uploads_port, port=varnish_port) as cdn:
            # -- twine through Varnish to the uploads app; pip through Varnish from web -------
            built = project.result()
            clients = Clients(cdn.url, tmp_path)
            clients.twine_upload(token, built.files)
            lap("uploaded")
            target = tmp_path / "target"
            clients.pip_install(target, "image-hello==1.0")
            assert clients.call_hello("image_hello", path=target) == "image-hello 1.0"
            # The worker copied the file to the cache bucket.
            wait_for(
                lambda: seaweedfs.client().list_objects_v2(Bucket=cache_bucket).get("KeyCount"),
                60,
                message=f"the worker did not fill the cache:\n{containers.logs()}",
            )

            lap("installed")
            # -- /metrics: on each process's own port, never through Varnish ------------------
            status, _, body = _request(f"http://127.0.0.1:{uploads_port}/metrics")
            assert status == 200 and b'route="legacy.upload"' in body, body[:3000]
            status, _, body = _request(f"http://127.0.0.1:{web_port}/metrics")
            assert status == 200 and b"warehouse_http_requests_total" in body
            for name, (_, port) in metrics_ports.items():
                assert _request(f"http://127.0.0.1:{port}/metrics")[0] == 200, name
            # Varnish refuses /metrics itself (no app answered: none of its headers) ...
            status, headers, _ = _request(f"{cdn.url}/metrics")
            assert status == 404 and "Content-Security-Policy" not in headers
            # ... and a spelling the VCL does not catch reaches the web app, which refuses it
            # because it came through Varnish (the client named, 127.0.0.1, may scrape).
            status, headers, body = _request(f"{cdn.url}/%6detrics")
            assert status == 404 and "Content-Security-Policy" in headers, (status, body[:200])

            # -- Varnish is the trusted proxy: the client counted is who spoke to Varnish -----
            call = b"<?xml version='1.0'?><methodCall><methodName>changelog_last_serial</methodName></methodCall>"
            headers = {"Content-Type": "text/xml", "X-Forwarded-For": "203.0.113.9"}
            status, _, _ = _request(
                f"{cdn.url}/pypi", source="127.0.0.5", body=call, headers=headers
            )
            assert status == 200
            limited = redis_lib.Redis.from_url(redis.url(0)).keys("ratelimit:xmlrpc:*")
            assert [key.split(b":")[2] for key in limited] == [b"127.0.0.5"], limited

        # -- nothing written outside the containers' /tmp ----------------------------------------
        after = _files_under(image.image)
        assert after == before, sorted(set(after.items()) ^ set(before.items()))[:10]
        for name in containers.environments:
            text = containers.log(name).read_text(errors="replace")
            refused = [line for line in text.splitlines() if any(w in line for w in WRITE_REFUSED)]
            assert not refused, f"{name}: {refused[:5]}"
        lap("checked")
    finally:
        containers.stop()
        redis.stop()
        lap("stopped")
        # Kept in sight (pytest -s): the whole image test is meant to stay around a minute.
        print("image test:", ", ".join(laps))


def _others_may_run(path: Path) -> bool:
    path = path.resolve()
    folders_open = all(folder.stat().st_mode & 0o001 for folder in path.parents)
    return folders_open and bool(path.stat().st_mode & 0o001)


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_health/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
