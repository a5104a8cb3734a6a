"""Metadata sync of N projects from another instance of this index: ``warehouse upstream
sync`` beside unmodified bandersnatch 8 (``release-files = false``), by hand.

    .venv/bin/python -u bench/upstream_sync_scale.py --projects 10000 [--rounds 2]

Starts a throwaway PostgreSQL and Redis with two databases: the upstream (N projects, one
release each with an sdist and a wheel, written with COPY in the test factories' shape, with
journal entries, so serials exist; seconds at 10,000) and the mirror (empty). The upstream is served by gunicorn as the suite's live server runs it, on loopback
behind the suite's TLS front (bandersnatch only talks https);
both tools go through that front, with the same bandersnatch configuration file (its
``[plugins]`` are the filters of both; ``--blocklist`` names leave some projects out).

Then, each tool as its own process, timed (wall, and the child's user+system CPU; and the
CPU seconds PostgreSQL and the upstream's gunicorn spent meanwhile, from /proc):

1. a first sync of everything;
2. ``--changes`` projects get a new release upstream (uploaded), and each tool syncs again
   (incrementally: bandersnatch from its status file's serial, ours from the upstream's
   change log).

``--rounds R`` repeats both passes into fresh mirrors (a new database, a new directory),
the tools' order alternating from round to round; the table gives each round's ratio and the
medians. ``--our-workers`` is ``warehouse upstream sync --workers``; ``--profile FILE`` runs
our first sync under cProfile (its main, applying, thread).

No distribution files are fetched by either (``release-files = false``; our upstream is
``on_demand``). The number of projects each mirrored is printed and checked to agree.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
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
    """N projects written straight into the upstream's tables with COPY (seconds at 10,000),
    in the test factories' shape: one release 1.0 each with an sdist and a wheel (with PEP 658
    metadata), journaled with increasing serials, owned by ``owner`` (who uploads the changes
    later). COPY bypasses the commit reactions: the /simple/ root listing is rebuilt after."""
    import datetime
    import hashlib

    import psycopg

    from warehouse.storage.keys import content_key

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.datetime.now(datetime.UTC)
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        owner_id = cursor.execute("SELECT id FROM users WHERE username = %s", (owner,)).fetchone()[
            0
        ]
        first_id = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM projects").fetchone()[0]
        first_serial = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM journals").fetchone()[0]
        projects_rows, releases_rows, files_rows, journal_rows, roles_rows = [], [], [], [], []
        serial = first_serial
        for i in range(projects):
            name = f"scale-{i:05d}"
            stem = name.replace("-", "_") + "-1.0"
            pid = first_id + i
            journal_rows.append((serial, name, None, "create", now, owner))
            journal_rows.append((serial + 1, name, "1.0", "new release", now, owner))
            total = 0
            for n, (kind, filename) in enumerate(
                (("sdist", f"{stem}.tar.gz"), ("bdist_wheel", f"{stem}-py3-none-any.whl"))
            ):
                content = f"contents of {filename}".encode()
                blake2 = hashlib.blake2b(content, digest_size=32).hexdigest()
                metadata = f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\n".encode()
                wheel = kind == "bdist_wheel"
                files_rows.append(
                    (
                        pid,  # release id = project id (one release each)
                        filename,
                        kind,
                        "py3" if wheel else "source",
                        None,
                        len(content),
                        hashlib.md5(content).hexdigest(),
                        hashlib.sha256(content).hexdigest(),
                        blake2,
                        content_key(blake2, filename),
                        now,
                        "bench",
                        hashlib.sha256(metadata).hexdigest() if wheel else None,
                        hashlib.blake2b(metadata, digest_size=32).hexdigest() if wheel else None,
                    )
                )
                journal_rows.append(
                    (serial + 2 + n, name, "1.0", f"add {kind} file {filename}", now, owner)
                )
                total += len(content)
            serial += 4
            projects_rows.append((pid, name, name, now, serial - 1, total))
            releases_rows.append(
                (pid, pid, "1.0", "1", 0, False, now, False, "", "2.4", f"The {name} project")
            )
            roles_rows.append((owner_id, pid, "Owner"))
        for table, columns, rows in (
            (
                "projects",
                "id, name, normalized_name, created, last_serial, total_size",
                projects_rows,
            ),
            (
                "releases",
                "id, project_id, version, canonical_version, sort_order, is_prerelease, created, "
                "yanked, yanked_reason, metadata_version, summary",
                releases_rows,
            ),
            (
                "release_files",
                "release_id, filename, packagetype, python_version, requires_python, size, "
                "md5_digest, sha256_digest, blake2_256_digest, path, upload_time, uploaded_via, "
                "metadata_sha256, metadata_blake2_256",
                files_rows,
            ),
            ("journals", "id, name, version, action, submitted_date, submitted_by", journal_rows),
            ("roles", "user_id, project_id, role_name", roles_rows),
        ):
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.execute(
            "INSERT INTO file_registry (filename) SELECT filename FROM release_files "
            "ON CONFLICT DO NOTHING"
        )
        for table in ("projects", "releases", "journals"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        connection.commit()
        for table in ("projects", "releases", "release_files", "journals", "roles"):
            cursor.execute(f"ANALYZE {table}")
        connection.commit()
    from warehouse import db
    from warehouse.api.root_listing import rebuild_locked

    engine = db.create_engine(database_url)
    try:
        with db.make_session_factory(engine)() as session, session.begin():
            rebuild_locked(session)
    finally:
        engine.dispose()


def upload_releases(server, names: list[str], directory: Path, version: str = "2.0") -> None:
    """A new release of each of ``names``, uploaded as a publisher would (so the upstream's
    caches and serials move as they do in production)."""
    import requests

    from tests.support.artifacts import form_fields_for, make_sdist

    directory.mkdir(parents=True, exist_ok=True)
    token = server.create_token("bench-publisher")
    for name in names:
        path = make_sdist(directory, name, version)
        fields = form_fields_for(path, name, version)
        response = requests.post(
            server.upload_url,
            data=[(k, v) for k, values in fields.items() for v in values],
            files={"content": (path.name, path.read_bytes(), "application/octet-stream")},
            auth=("__token__", token),
            timeout=120,
        )
        if response.status_code != 200:
            raise SystemExit(f"upload of {name} {version}: {response.status_code} {response.text}")


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and its descendants: those alive (user + system) plus the
    children it has reaped (a PostgreSQL backend per connection, gunicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), [int(f) for f in fields[11:15]])
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid not in stats:
            continue
        utime, stime, cutime, cstime = stats[pid][1]
        total += utime + stime + (cutime + cstime if pid == root else 0)
        todo += children.get(pid, [])
    return total / tick


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
    parser.add_argument(
        "--our-workers", type=int, default=8, help="`warehouse upstream sync --workers`"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="first + incremental syncs into fresh mirrors, the tools' order alternating",
    )
    parser.add_argument("--blocklist", type=int, default=10, help="projects both leave out")
    parser.add_argument(
        "--ours-code",
        type=Path,
        help="run our sync with this checkout's warehouse package (PYTHONPATH): before/after",
    )
    parser.add_argument(
        "--bandersnatch-first",
        action="store_true",
        help="bandersnatch runs first in the first round (the upstream's caches are then warm"
        " for ours)",
    )
    parser.add_argument(
        "--upstream-workers", type=int, default=2, help="gunicorn workers of the upstream"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write cProfile stats of our first sync's main (applying) thread to this file",
    )
    parser.add_argument(
        "--bandersnatch",
        help="a bandersnatch 8 executable (default: the suite's, installed if needed)",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10:
        raise SystemExit("--rounds: 1 to 10")
    work = Path(tempfile.mkdtemp(prefix="bench-upstream-scale-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user
    pg = Postgres(work / "pg", free_port(), fast_and_unsafe=True)
    redis = Redis(work / "redis", free_port())
    pg.start()
    redis.start()
    front = proxy = None
    try:
        from tests.support import live_server
        from tests.support.live_server import start_live_server, stop_live_server

        live_server.STARTUP_TIMEOUT = 600  # a shared machine under load starts gunicorn slowly

        # The upstream: this index under gunicorn, as the suite's live server runs it.
        server, server_redis = start_live_server(
            pg,
            work / "upstream",
            database="upstream",
            extra_env={"WEB_CONCURRENCY": str(args.upstream_workers)},
        )
        front = (server, server_redis)
        print(f"writing {args.projects} projects upstream (COPY)", flush=True)
        started = time.monotonic()
        server.create_user("bench-publisher")
        populate(pg.url("upstream"), args.projects, "bench-publisher")
        print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
        origin_port = int(server.url.rsplit(":", 1)[1])
        ca, certificate, key = make_certificates(work / "tls")
        proxy = TlsProxy(origin_port, certificate, key).start()

        blocked = [
            f"scale-{i:05d}"
            for i in range(0, args.projects, max(1, args.projects // max(1, args.blocklist)))
        ][: args.blocklist]
        executable = args.bandersnatch or ensure_bandersnatch(FLAVOURS["8"])
        tls_env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        tls_env.update(SSL_CERT_FILE=str(ca), REQUESTS_CA_BUNDLE=str(ca))
        expected = args.projects - len(blocked)
        changed = [
            f"scale-{i:05d}" for i in range(1, args.projects, max(1, args.projects // args.changes))
        ][: args.changes]
        changed = [n for n in changed if n not in blocked]
        rows = []
        import sqlalchemy as sa

        from warehouse import db

        def servers_cpu() -> tuple[float, float]:
            """CPU-s so far of PostgreSQL (both databases: the upstream's reads and our
            mirror's writes) and of the upstream's gunicorn processes."""
            return tree_cpu(pg.pid()), sum(tree_cpu(p.pid) for p in server.processes)

        for round_ in range(args.rounds):
            # Fresh mirrors each round: a database for ours, a directory for bandersnatch.
            mirror_db = f"mirror{round_}"
            pg.create_database(mirror_db)
            mirror_dir = work / f"bandersnatch{round_}"
            conf = work / f"bandersnatch{round_}.conf"
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
            ours_env = {
                **tls_env,
                "DATABASE_URL": pg.url(mirror_db),
                "REDIS_URL": redis.url(2 + round_),
                "WAREHOUSE_FILES_PATH": str(work / f"mirror-files{round_}"),
            }
            if args.ours_code is not None:
                ours_env["PYTHONPATH"] = str(args.ours_code.resolve())
            subprocess.run(
                [WAREHOUSE, "db", "upgrade"], env=ours_env, check=True, capture_output=True
            )
            subprocess.run(
                [WAREHOUSE, "upstream", "add", "up", f"{proxy.url}/simple/"]
                + ["--bandersnatch-config", conf],
                env=ours_env,
                check=True,
                capture_output=True,
            )
            ours_label = f"warehouse upstream sync --workers {args.our_workers}"
            theirs_label = f"bandersnatch 8 mirror ({args.workers} workers)"

            def measured(tool, name, n, label, argv, env, show=None) -> None:
                """Run one sync; print and keep its wall, its CPU and the servers'."""
                servers = servers_cpu()
                wall, cpu, out = timed(argv, env)
                pg_cpu, up_cpu = (b - a for a, b in zip(servers, servers_cpu(), strict=True))
                print(
                    f"  {name}: {wall:.1f} s wall, {cpu:.1f} CPU-s; PostgreSQL {pg_cpu:.1f}"
                    f" CPU-s, the upstream's gunicorn {up_cpu:.1f} CPU-s"
                    + (f"; {show(out)}" if show else ""),
                    flush=True,
                )
                rows.append((n, label, tool, wall, cpu, pg_cpu, up_cpu))

            def ours(label: str, env=ours_env, n=round_, name=ours_label) -> None:
                argv = [WAREHOUSE, "upstream", "sync", "up", "--workers", args.our_workers]
                if args.profile and label == "first" and n == 0:
                    argv = [sys.executable, "-m", "cProfile", "-o", args.profile, *argv]
                measured("ours", name, n, label, argv, env, summary)

            def theirs(label: str, conf=conf, n=round_, name=theirs_label) -> None:
                argv = [executable, "-c", conf, "mirror"]
                measured("bandersnatch", name, n, label, argv, tls_env)

            # The tools' order alternates from round to round (a busy machine's drift
            # then weighs on both).
            order = (
                (ours, theirs) if (round_ + args.bandersnatch_first) % 2 == 0 else (theirs, ours)
            )
            print(f"round {round_ + 1}: first sync ({expected} projects)", flush=True)
            for run in order:
                run("first")
            engine = db.create_engine(pg.url(mirror_db))
            with engine.connect() as connection:
                mirrored = connection.scalar(sa.text("SELECT count(*) FROM upstream_projects"))
            theirs_count = len(list((mirror_dir / "web" / "json").iterdir()))
            print(f"  projects mirrored: warehouse {mirrored}, bandersnatch {theirs_count}")
            assert mirrored == theirs_count == expected, (mirrored, theirs_count, expected)
            version = f"2.{round_}"
            upload_releases(server, changed, work / f"uploads{round_}", version)
            print(f"round {round_ + 1}: incremental ({len(changed)} new releases)", flush=True)
            for run in order:
                run("incremental")
            with engine.connect() as connection:
                releases = connection.scalar(
                    sa.text("SELECT count(*) FROM releases WHERE version = :v"), {"v": version}
                )
            engine.dispose()
            print(f"  new releases mirrored by warehouse: {releases}", flush=True)
            assert releases == len(changed)
        print(
            f"\n{args.projects} projects ({expected} after the blocklist), {len(changed)} changed;"
            f" ours: --workers {args.our_workers}; bandersnatch: {args.workers} workers;"
            f" upstream gunicorn workers: {args.upstream_workers}"
        )
        print(
            "\n| round | pass | ours wall s (CPU-s; PostgreSQL, upstream CPU-s) |"
            " bandersnatch wall s (CPU-s; PostgreSQL, upstream CPU-s) | ours / bandersnatch wall |"
            " all CPU-s ours / bandersnatch |"
        )
        print("|---|---|---|---|---|---|")
        for round_ in range(args.rounds):
            for label in ("first", "incremental"):
                (o,) = [r for r in rows if r[:3] == (round_, label, "ours")]
                (t,) = [r for r in rows if r[:3] == (round_, label, "bandersnatch")]
                print(
                    f"| {round_ + 1} | {label} | {o[3]:.1f} ({o[4]:.1f}; {o[5]:.1f}, {o[6]:.1f})"
                    f" | {t[3]:.1f} ({t[4]:.1f}; {t[5]:.1f}, {t[6]:.1f}) | {o[3] / t[3]:.2f}"
                    f" | {sum(o[4:]) / sum(t[4:]):.2f} |"
                )
        for label in ("first", "incremental"):
            ratios = [
                o[3] / t[3]
                for o in rows
                for t in rows
                if o[1] == t[1] == label
                and o[0] == t[0]
                and (o[2], t[2]) == ("ours", "bandersnatch")
            ]
            ours_walls = [r[3] for r in rows if r[1:3] == (label, "ours")]
            theirs_walls = [r[3] for r in rows if r[1:3] == (label, "bandersnatch")]
            print(
                f"{label}: median wall ours {statistics.median(ours_walls):.1f} s, bandersnatch"
                f" {statistics.median(theirs_walls):.1f} s; ratio median"
                f" {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
            )
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
