"""Project-local PostgreSQL and Redis for development and tests.

``make serve`` and the test suite both run the servers as plain processes on 127.0.0.1, with
their data under one folder (``.state/`` for development, a temporary folder for tests).
Only the standard library is used, so this runs before anything else is set up.

    python -m warehouse.devservices serve      # start, migrate, run the app; Ctrl-C stops all
    python -m warehouse.devservices start|stop|status
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ServiceError(f"{what} did not answer on 127.0.0.1:{port} within {timeout}s\n{tail}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
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
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8"]
            )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {self.root / 'sock'}",
            "-c max_connections=200",
        ]
        if self.fast_and_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run_as_owner(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
             "-o", " ".join(options), "start"]
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
        argv = [str(PG_BIN.parent / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", "postgres", "-d", database, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]
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
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--logfile", str(self.root / "redis.log"),
             "--pidfile", str(self.pidfile), "--daemonize", "yes"],
            check=True,
        )
        _wait_for_port(self.port, 10, "Redis", self.root / "redis.log")
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            _wait_for_exit(pid, 10)


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)


def dev_services(state: Path = STATE_DIR) -> tuple[Postgres, Redis]:
    return (
        Postgres(state / "postgres", int(os.environ.get("WAREHOUSE_DEV_PG_PORT", "54320"))),
        Redis(state / "redis", int(os.environ.get("WAREHOUSE_DEV_REDIS_PORT", "63790"))),
    )


def dev_environment(pg: Postgres, redis: Redis) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", pg.url("warehouse"))
    env.setdefault("REDIS_URL", redis.url(0))
    env.setdefault("WAREHOUSE_FILES_PATH", str(STATE_DIR / "files"))
    return env


def start_dev_services() -> tuple[Postgres, Redis, list]:
    pg, redis = dev_services()
    started = []
    if pg.start():
        started.append(pg)
    pg.create_database("warehouse")
    if redis.start():
        started.append(redis)
    return pg, redis, started


def serve() -> int:
    pg, redis, started = start_dev_services()
    env = dev_environment(pg, redis)
    venv_bin = Path(sys.executable).parent
    subprocess.run([str(venv_bin / "warehouse"), "db", "upgrade"], env=env, check=True)
    port = env.get("WAREHOUSE_PORT", "8000")
    print(f"warehouse: serving on http://127.0.0.1:{port}/  (Ctrl-C stops everything)", flush=True)
    app = subprocess.Popen(
        [str(venv_bin / "gunicorn"), "-c", str(REPO_ROOT / "config" / "gunicorn-web.conf.py"),
         "--bind", f"127.0.0.1:{port}", "warehouse.wsgi:application"],
        env=env,
    )
    try:
        return app.wait()
    except KeyboardInterrupt:
        app.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            app.wait(15)
        return 0
    finally:
        if app.poll() is None:
            app.kill()
        for service in reversed(started):
            service.stop()
        print("warehouse: stopped", flush=True)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "serve":
        return serve()
    pg, redis = dev_services()
    if command == "start":
        start_dev_services()
        print(f"postgres {pg.url()}\nredis {redis.url()}")
    elif command == "stop":
        redis.stop()
        pg.stop()
    elif command == "status":
        print(f"postgres: {'running pid ' + str(pg.pid()) if pg.pid() else 'stopped'}")
        print(f"redis: {'running pid ' + str(redis.pid()) if redis.pid() else 'stopped'}")
    elif command == "env":
        env = dev_environment(pg, redis)
        for key in ("DATABASE_URL", "REDIS_URL", "WAREHOUSE_FILES_PATH"):
            print(f"export {key}={env[key]}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
