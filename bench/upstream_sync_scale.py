"""Metadata sync of N projects from another instance of this index: ``warehouse upstream
sync`` beside unmodified bandersnatch 8 (``release-files = false``), by hand.

    .venv/bin/python -u bench/upstream_sync_scale.py --projects 10000

Starts a throwaway PostgreSQL and Redis with two databases: the upstream (N projects, one
release each with an sdist and a wheel, written with the test factories, so every change is
journaled and serials exist) and the mirror (empty). The upstream is served by gunicorn as the suite's live server runs it, on loopback
behind the suite's TLS front (bandersnatch only talks https);
both tools go through that front, with the same bandersnatch configuration file (its
``[plugins]`` are the filters of both; ``--blocklist`` names leave some projects out).

Then, each tool as its own process, timed (wall, and the child's user+system CPU):

1. a first sync of everything;
2. ``--changes`` projects get a new release upstream (uploaded), and each tool syncs again
   (incrementally: bandersnatch from its status file's serial, ours from the upstream's
   change log).

No distribution files are fetched by either (``release-files = false``; our upstream is
``on_demand``). The number of projects each mirrored is printed and checked to agree.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devstack.services import Postgres, Redis, free_port  # noqa: E402
from tests.support.bandersnatch import (  # noqa: E402
    _DROPPED,
    FLAVOURS,
    TlsProxy,
    ensure_bandersnatch,
    make_certificates,
)

WAREHOUSE = REPO / ".venv" / "bin" / "warehouse"


def populate(database_url: str, projects: int, owner: str) -> None:
    import sqlalchemy as sa

    from tests.support.factories import create_project
    from warehouse import db
    from warehouse.accounts.models import User
    from warehouse.packaging.models import Role, RoleName

    session = db.make_session_factory(db.create_engine(database_url))()
    owner_id = session.scalar(sa.select(User.id).where(User.username == owner))
    started = time.monotonic()
    for i in range(projects):
        project = create_project(session, f"scale-{i:05d}", commit=False)
        session.add(Role(user_id=owner_id, project_id=project.id, role_name=RoleName.owner))
        if i % 500 == 499:
            session.commit()
            print(f"  upstream: {i + 1} projects ({time.monotonic() - started:.0f} s)", flush=True)
    session.commit()
    session.close()


def upload_releases(server, names: list[str], directory: Path) -> None:
    """A new release of each of ``names``, uploaded as a publisher would (so the upstream's
    caches and serials move as they do in production)."""
    import requests

    from tests.support.artifacts import form_fields_for, make_sdist

    directory.mkdir(parents=True, exist_ok=True)
    token = server.create_token("bench-publisher")
    for name in names:
        path = make_sdist(directory, name, "2.0")
        fields = form_fields_for(path, name, "2.0")
        response = requests.post(
            server.upload_url,
            data=[(k, v) for k, values in fields.items() for v in values],
            files={"content": (path.name, path.read_bytes(), "application/octet-stream")},
            auth=("__token__", token),
            timeout=120,
        )
        if response.status_code != 200:
            raise SystemExit(f"upload of {name} 2.0: {response.status_code} {response.text}")


def summary(output: str) -> str:
    return next((line for line in output.splitlines() if "projects synced" in line), "")


def timed(argv: list, env: dict) -> tuple[float, float, str]:
    """Wall seconds, the child's CPU seconds (user + system), its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        [str(a) for a in argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"{argv} exited {result.returncode}:\n{result.stdout[-4000:]}")
    return wall, cpu, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3, help="bandersnatch workers")
    parser.add_argument("--blocklist", type=int, default=10, help="projects both leave out")
    parser.add_argument(
        "--bandersnatch",
        help="a bandersnatch 8 executable (default: the suite's, installed if needed)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-upstream-scale-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user
    pg = Postgres(work / "pg", free_port(), fast_and_unsafe=True)
    redis = Redis(work / "redis", free_port())
    pg.start()
    redis.start()
    front = proxy = None
    try:
        from tests.support.live_server import start_live_server, stop_live_server

        # The upstream: this index under gunicorn, as the suite's live server runs it.
        server, server_redis = start_live_server(pg, work / "upstream", database="upstream")
        front = (server, server_redis)
        pg.create_database("mirror")
        subprocess.run(
            [WAREHOUSE, "db", "upgrade"],
            env={**os.environ, "DATABASE_URL": pg.url("mirror"), "REDIS_URL": redis.url(0)},
            check=True,
            capture_output=True,
        )
        print(f"writing {args.projects} projects upstream", flush=True)
        started = time.monotonic()
        server.create_user("bench-publisher")
        populate(pg.url("upstream"), args.projects, "bench-publisher")
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
        origin_port = int(server.url.rsplit(":", 1)[1])
        ca, certificate, key = make_certificates(work / "tls")
        proxy = TlsProxy(origin_port, certificate, key).start()

        blocked = [
            f"scale-{i:05d}"
            for i in range(0, args.projects, max(1, args.projects // max(1, args.blocklist)))
        ][: args.blocklist]
        mirror_dir = work / "bandersnatch"
        conf = work / "bandersnatch.conf"
        conf.write_text(
            "[mirror]\n"
            f"directory = {mirror_dir}\n"
            f"master = {proxy.url}\n"
            "json = true\n"
            "release-files = false\n"
            "hash-index = false\n"
            "simple-format = ALL\n"
            f"workers = {args.workers}\n"
            "timeout = 60\n"
            "global-timeout = 3600\n"
            "stop-on-error = false\n"
            "\n[plugins]\nenabled =\n    blocklist_project\n"
            "\n[blocklist]\npackages =\n" + "".join(f"    {n}\n" for n in blocked)
        )
        executable = args.bandersnatch or ensure_bandersnatch(FLAVOURS["8"])
        tls_env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        tls_env.update(SSL_CERT_FILE=str(ca), REQUESTS_CA_BUNDLE=str(ca))
        ours_env = {
            **tls_env,
            "DATABASE_URL": pg.url("mirror"),
            "REDIS_URL": redis.url(2),
            "WAREHOUSE_FILES_PATH": str(work / "mirror-files"),
        }
        subprocess.run(
            [
                WAREHOUSE,
                "upstream",
                "add",
                "up",
                f"{proxy.url}/simple/",
                "--bandersnatch-config",
                conf,
            ],
            env=ours_env,
            check=True,
            capture_output=True,
        )
        expected = args.projects - len(blocked)
        rows = []

        def both(label: str) -> None:
            wall, cpu, out = timed([WAREHOUSE, "upstream", "sync", "up"], ours_env)
            print(
                f"  warehouse upstream sync: {wall:.1f} s wall, {cpu:.1f} CPU-s; {summary(out)}",
                flush=True,
            )
            rows.append((label, "warehouse upstream sync (1 process)", wall, cpu))
            wall, cpu, out = timed([executable, "-c", conf, "mirror"], tls_env)
            print(
                f"  bandersnatch 8 mirror ({args.workers} workers): {wall:.1f} s wall, {cpu:.1f} CPU-s",
                flush=True,
            )
            rows.append((label, f"bandersnatch 8 mirror ({args.workers} workers)", wall, cpu))

        print(f"first sync ({expected} projects after the blocklist)", flush=True)
        both(f"first sync, {expected} projects")
        import sqlalchemy as sa

        from warehouse import db

        engine = db.create_engine(pg.url("mirror"))
        with engine.connect() as connection:
            ours = connection.scalar(sa.text("SELECT count(*) FROM upstream_projects"))
        theirs = len(list((mirror_dir / "web" / "json").iterdir()))
        print(f"  projects mirrored: warehouse {ours}, bandersnatch {theirs}", flush=True)
        assert ours == theirs == expected, (ours, theirs, expected)

        changed = [
            f"scale-{i:05d}" for i in range(1, args.projects, max(1, args.projects // args.changes))
        ][: args.changes]
        changed = [n for n in changed if n not in blocked]
        upload_releases(server, changed, work / "uploads")
        print(f"incremental sync ({len(changed)} projects with a new release)", flush=True)
        both(f"incremental, {len(changed)} changed")
        with engine.connect() as connection:
            releases = connection.scalar(
                sa.text("SELECT count(*) FROM releases WHERE version = '2.0'")
            )
        print(f"  new releases mirrored by warehouse: {releases}", flush=True)
        assert releases == len(changed)
        print("\n| pass | tool | wall s | CPU-s (the tool's process) |\n|---|---|---|---|")
        for label, tool, wall, cpu in rows:
            print(f"| {label} | {tool} | {wall:.1f} | {cpu:.1f} |")
    finally:
        if proxy is not None:
            proxy.stop()
        if front is not None:
            stop_live_server(*front)
        redis.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
