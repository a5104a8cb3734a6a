"""Measure ``warehouse storage verify`` against SeaweedFS at scale, by hand.

    .venv/bin/python bench/verify_scale.py --objects 100000
    .venv/bin/python bench/verify_scale.py --objects 100000 --kills 3

Starts a throwaway PostgreSQL and SeaweedFS (the test suite's), writes ``--objects`` blobs
under content addresses into one bucket with a file row for each (one in a thousand blobs
deleted, one in a thousand rows without a blob's owner: planted problems), then measures:

* the bare paging rate: ``list_objects_v2`` with MaxKeys=1000 over the whole bucket,
  following the last key, and nothing else (the physical limit of a listing pass);
* ``warehouse storage verify --store archive`` (no --deep; with ``--deep`` a second, hashing
  run after it), in a subprocess: its rate (keys
  over the run's own start-to-finish time, so the interpreter's start is not counted), its
  wall time, and its peak RSS (VmHWM, read from /proc while it runs);
* with ``--kills K``: the same run killed with SIGKILL K times at random moments, resumed
  each time, and its totals compared with the uninterrupted run's.

Everything listens on 127.0.0.1 and is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from devstack.services import Postgres, free_port  # noqa: E402
from tests.support.seaweedfs import _Server  # noqa: E402
from warehouse.cli.db import alembic_config  # noqa: E402

WAREHOUSE = Path(sys.executable).parent / "warehouse"


def fill(client, bucket: str, engine, objects: int, workers: int) -> tuple[int, int]:
    """Blobs and rows; returns (missing, orphans) planted."""
    from sqlalchemy import orm

    from warehouse.models import import_all
    from warehouse.packaging.models import Project, Release

    import_all()
    with orm.Session(engine) as session:
        project = Project(name="bench", normalized_name="bench")
        release = Release(
            project=project, version="1.0", canonical_version="1", metadata_version="2.4"
        )
        session.add_all([project, release])
        session.commit()
        release_id = release.id
    rows, keys = [], []
    missing = orphans = 0
    for i in range(objects):
        data = f"bench object {i}".encode()
        blake2 = hashlib.blake2b(data, digest_size=32).hexdigest()
        filename = f"bench-{i}.tar.gz"
        key = f"{blake2[:2]}/{blake2[2:4]}/{blake2[4:]}/{filename}"
        if i % 1000 == 1:
            orphans += 1  # a blob no row names
        else:
            rows.append(
                {
                    "release_id": release_id,
                    "filename": filename,
                    "packagetype": "sdist",
                    "python_version": "source",
                    "size": len(data),
                    "md5_digest": hashlib.md5(data).hexdigest(),
                    "sha256_digest": hashlib.sha256(data).hexdigest(),
                    "blake2_256_digest": blake2,
                    "path": key,
                }
            )
        if i % 1000 == 2:
            missing += 1  # a row whose blob was never written
            continue
        keys.append((key, data))
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for n, _ in enumerate(
            pool.map(lambda kd: client.put_object(Bucket=bucket, Key=kd[0], Body=kd[1]), keys)
        ):
            if n and n % 20000 == 0:
                print(f"  {n} blobs written ({n / (time.perf_counter() - started):.0f}/s)")
    insert = sa.text(
        "INSERT INTO release_files (release_id, filename, packagetype, python_version, size,"
        " md5_digest, sha256_digest, blake2_256_digest, path, upload_time)"
        " VALUES (:release_id, :filename, :packagetype, :python_version, :size, :md5_digest,"
        " :sha256_digest, :blake2_256_digest, :path, now() - interval '1 day')"
    )
    for start in range(0, len(rows), 5000):
        with engine.begin() as connection:
            connection.execute(insert, rows[start : start + 5000])
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE release_files"))
    return missing, orphans


def bare_listing(client, bucket: str) -> tuple[int, float]:
    started = time.perf_counter()
    count, after = 0, ""
    while True:
        args = {"Bucket": bucket, "MaxKeys": 1000}
        if after:
            args["StartAfter"] = after
        contents = client.list_objects_v2(**args).get("Contents", ())
        count += len(contents)
        if len(contents) < 1000:
            return count, time.perf_counter() - started
        after = contents[-1]["Key"]


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def keys_done(engine, run_id: int) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            sa.text(
                "SELECT coalesce(sum(keys_done), 0) FROM storage_verify_ranges WHERE run_id = :r"
            ),
            {"r": run_id},
        )


def run_cli(argv, env, engine=None, kill_at: tuple[int, int] | None = None):
    """(exit status, peak RSS KiB, wall seconds); with ``kill_at=(run, keys)``, SIGKILLed
    once that run has settled that many keys."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(WAREHOUSE), *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_rss_kib(process.pid))
        if kill_at is not None and keys_done(engine, kill_at[0]) >= kill_at[1]:
            process.send_signal(signal.SIGKILL)
            process.wait()
            break
        time.sleep(0.1)
    return process.returncode, peak, time.perf_counter() - started


def run_figures(engine, run_id: int) -> tuple[dict, float]:
    from sqlalchemy import orm

    from warehouse.storage.verify import runner

    with orm.Session(engine) as session:
        run = session.get(runner.VerifyRun, run_id)
        return runner.totals(session, run), (run.finished_at - run.started_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=16, help="threads writing blobs")
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--range-digits", type=int, default=1)
    parser.add_argument(
        "--deep", action="store_true", help="then time a --deep run (reads and hashes every blob)"
    )
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    os.chmod(root, 0o755)
    weed = _Server(root)
    postgres = Postgres(root / "postgres", free_port(), fast_and_unsafe=True)
    try:
        s3 = weed.start()
        postgres.start()
        postgres.create_database("warehouse")
        url = postgres.url("warehouse")
        from alembic import command

        command.upgrade(alembic_config(url), "heads")
        engine = sa.create_engine(url)
        client = s3.client(shared=False)
        bucket = s3.make_bucket(f"bench-{secrets.token_hex(4)}")
        print(f"writing {options.objects} blobs and rows ...")
        started = time.perf_counter()
        missing, orphans = fill(client, bucket, engine, options.objects, options.workers)
        print(f"  done in {time.perf_counter() - started:.0f} s")

        listed, seconds = bare_listing(client, bucket)
        bare_rate = listed / seconds
        print(f"bare list_objects_v2 paging: {listed} keys in {seconds:.1f} s = {bare_rate:.0f}/s")

        env = {
            **os.environ,
            "DATABASE_URL": url,
            "WAREHOUSE_FILES_BACKEND": "s3",
            "WAREHOUSE_S3_ENDPOINT_URL": s3.endpoint_url,
            "WAREHOUSE_S3_BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "WAREHOUSE_VERIFY_ORPHAN_MIN_AGE_SECONDS": "0",
            "WAREHOUSE_LOG_FORMAT": "json",
        }
        argv = ["storage", "verify", "--store", "archive"]
        argv += ["--range-digits", str(options.range_digits)]
        status, peak, wall = run_cli(argv, env)
        totals, run_seconds = run_figures(engine, 1)
        print(
            f"verify (no --deep): exit {status}, {totals['keys']} keys in {run_seconds:.1f} s"
            f" = {totals['keys'] / run_seconds:.0f}/s"
            f" ({totals['keys'] / run_seconds / bare_rate:.0%} of bare paging);"
            f" wall {wall:.1f} s with the interpreter's start; peak RSS {peak / 1024:.0f} MiB"
        )
        print(f"  totals: {totals}")
        print(f"  planted: missing {missing}, orphan {orphans}")
        assert totals["missing"] == missing and totals["orphan"] == orphans, "wrong figures"

        if options.kills:
            # Kill points spread over the run, each further than the last.
            points = sorted(random.Random(12).sample(range(5, 95), options.kills))
            for kill, percent in enumerate(points):
                at = totals["keys"] * percent // 100
                status, peak_k, _ = run_cli(
                    argv + (["--resume"] if kill else []), env, engine, kill_at=(2, at)
                )
                done = keys_done(engine, 2)
                print(f"  run 2 killed (exit {status}) at {done} keys settled (aimed {at})")
            status, peak_k, _ = run_cli(argv + ["--resume"], env)
            killed_totals, _ = run_figures(engine, 2)
            same = "the same" if killed_totals == totals else "DIFFERENT"
            print(f"  resumed after {options.kills} kills: exit {status}; totals {same}")
            print(f"  totals: {killed_totals}")
        if options.deep:
            status, peak_d, _ = run_cli(argv + ["--deep"], env)
            with engine.connect() as connection:
                deep_id = connection.scalar(sa.text("SELECT max(id) FROM storage_verify_runs"))
                stored = int(
                    connection.scalar(sa.text("SELECT coalesce(sum(size), 0) FROM release_files"))
                )
            deep_totals, deep_seconds = run_figures(engine, deep_id)
            print(
                f"verify --deep: exit {status}, {deep_totals['keys']} keys in {deep_seconds:.1f} s"
                f" = {deep_totals['keys'] / deep_seconds:.0f} keys/s,"
                f" {stored / deep_seconds / 1e6:.1f} MB/s of distribution bytes;"
                f" peak RSS {peak_d / 1024:.0f} MiB"
            )
            print(f"  totals: {deep_totals}")
        engine.dispose()
    finally:
        postgres.stop()
        weed.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
