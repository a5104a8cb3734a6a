"""Measure ``warehouse storage verify`` against SeaweedFS at scale, by hand.

    .venv/bin/python bench/verify_scale.py --objects 100000
    .venv/bin/python bench/verify_scale.py --objects 100000 --kills 3
    .venv/bin/python bench/verify_scale.py --objects 1000000 --load filer-store \
        --span-ranges 2 --repeats 2 --kills 3

Starts a throwaway PostgreSQL and SeaweedFS (the test suite's), writes ``--objects`` blobs
under content addresses into one bucket with a file row for each (one in a thousand blobs
deleted, one in a thousand rows without a blob's owner: planted problems), then measures:

* the bare paging rate: ``list_objects_v2`` with MaxKeys=1000 over the whole bucket,
  following the last key, and nothing else (the physical limit of a listing pass);
* ``warehouse storage verify --store archive`` (no --deep; with ``--deep`` a second, hashing
  run after it), in a subprocess: its rate (keys
  over the run's own start-to-finish time, so the interpreter's start is not counted), its
  wall time, and its peak RSS (VmHWM, read from /proc while it runs);
* with ``--repeats N``: the bare pass and the verify run alternate N times; medians are
  printed beside each figure;
* with ``--span-ranges N``: over the first N of the run's ranges only (16 with
  ``--range-digits 1``): the bare pass stops at their end, verify runs are stopped once they
  are finished, and the figures are those ranges' (time: from the run's start to the last of
  them finishing);
* with ``--kills K``: the same run killed with SIGKILL K times at random moments, resumed
  each time, and its totals compared with the uninterrupted run's.

How the blobs get into SeaweedFS (``--load``):

* ``put`` (default): ``put_object`` through the S3 API from ``--workers`` threads (~100-220
  puts/s on this machine: hours for a million);
* ``filer-store``: the bucket's entries are written, before SeaweedFS starts, straight into
  its default filer store (LevelDB, ``leveldb2``; a ``filer.toml`` beside the server points it
  at the directory), as the very records SeaweedFS writes itself: a directory entry for each
  level of the key and a file entry whose bytes are stored inline in the entry (SeaweedFS
  keeps small files in the entry the same way), with size and MD5 in its attributes. The
  running server then lists, HEADs, GETs and deletes them like any other object
  (:func:`check_filer_store_load` checks that on a bucket of its own, beside objects put
  through S3, before anything is measured). A million objects take minutes instead of hours.
  Both passes measured (bare listing and verify) run against this same server.

The file rows are written with COPY either way.

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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from devstack.services import Postgres, free_port  # noqa: E402
from tests.support.seaweedfs import _Server  # noqa: E402
from warehouse.cli.db import alembic_config  # noqa: E402

WAREHOUSE = Path(sys.executable).parent / "warehouse"


def planted(objects: int) -> Iterator[tuple[int, str, bytes, bool, bool]]:
    """``(i, key, data, has_row, has_blob)`` for each object, problems planted: one in a
    thousand blobs no row names (orphans), one in a thousand rows without a blob (missing)."""
    for i in range(objects):
        data = f"bench object {i}".encode()
        blake2 = hashlib.blake2b(data, digest_size=32).hexdigest()
        key = f"{blake2[:2]}/{blake2[2:4]}/{blake2[4:]}/bench_{i}-1.0-py3-none-any.whl"
        yield i, key, data, i % 1000 != 1, i % 1000 != 2


def write_rows(engine, objects: int) -> None:
    """The file rows, with COPY, uploaded a day ago."""
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
    columns = (
        "release_id, filename, packagetype, python_version, size, md5_digest, sha256_digest,"
        " blake2_256_digest, path, upload_time"
    )
    uploaded = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(time.time() - 86400))
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY release_files ({columns}) FROM STDIN") as copy:
                for _, key, data, has_row, _ in planted(objects):
                    if has_row:
                        copy.write_row(
                            (
                                release_id,
                                key.rpartition("/")[2],
                                "bdist_wheel",
                                "py3",
                                len(data),
                                hashlib.md5(data).hexdigest(),
                                hashlib.sha256(data).hexdigest(),
                                hashlib.blake2b(data, digest_size=32).hexdigest(),
                                key,
                                uploaded,
                            )
                        )
        connection.commit()
    finally:
        connection.close()
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE release_files"))


def put_blobs(client, bucket: str, objects: int, workers: int) -> None:
    """Through the S3 API, ``workers`` puts at a time."""
    blobs = ((key, data) for _, key, data, _, has_blob in planted(objects) if has_blob)
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for n, _ in enumerate(
            pool.map(lambda kd: client.put_object(Bucket=bucket, Key=kd[0], Body=kd[1]), blobs)
        ):
            if n and n % 20000 == 0:
                print(f"  {n} blobs written ({n / (time.perf_counter() - started):.0f}/s)")


# SeaweedFS's default filer store, LevelDB ("leveldb2"): eight LevelDB databases (00-07); an
# entry's key is the MD5 of its directory's full path followed by its name, in the database
# numbered by that MD5's last byte modulo 8; the value is the entry (filer_pb.Entry) without
# its name, in protobuf. The server is pointed at a store written before it starts (LevelDB
# is opened by one process at a time) with a filer.toml in its working directory.
FILER_TOML = """\
[leveldb2]
enabled = true
dir = "{path}"
"""
FILER_PARTITIONS = 8


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


# filer_pb.Entry: 2 is_directory, 4 attributes, 9 content (a small file's bytes, inline).
# filer_pb.FuseAttributes: 1 file_size, 2 mtime, 3 file_mode, 6 crtime, 7 mime, 14 md5.
_DIRECTORY_MODE = 0x80000000 | 0o775  # Go's os.ModeDir


def _directory_entry(mtime: int) -> bytes:
    attributes = _field(2, mtime) + _field(3, _DIRECTORY_MODE) + _field(6, mtime)
    return _field(2, 1) + _field(4, attributes)


def _file_entry(data: bytes, mtime: int) -> bytes:
    attributes = (
        _field(1, len(data))
        + _field(2, mtime)
        + _field(3, 0o660)
        + _field(6, mtime)
        + _field(7, b"application/octet-stream")
        + _field(14, hashlib.md5(data).digest())
    )
    return _field(4, attributes) + _field(9, data)


def filer_entries(bucket: str, blobs, mtime: int) -> Iterator[tuple[str, str, bytes]]:
    """``(directory, name, entry)`` for ``(key, data)`` blobs in ``bucket``: each directory
    once, then the file."""
    root = f"/buckets/{bucket}"
    seen: set[str] = set()
    for key, data in blobs:
        parts = key.split("/")
        for depth in range(len(parts) - 1):
            path = "/".join(parts[: depth + 1])
            if path not in seen:
                seen.add(path)
                yield "/".join([root, *parts[:depth]]), parts[depth], _directory_entry(mtime)
        yield "/".join([root, *parts[:-1]]), parts[-1], _file_entry(data, mtime)


def write_filer_store(store: Path, bucket: str, blobs, mtime: int) -> int:
    """Write ``blobs`` into the LevelDB filer store at ``store`` (no server running on it)."""
    import plyvel

    store.mkdir(parents=True, exist_ok=True)
    databases = [
        plyvel.DB(
            str(store / f"{n:02d}"), create_if_missing=True, write_buffer_size=64 * 1024 * 1024
        )
        for n in range(FILER_PARTITIONS)
    ]
    batches = [database.write_batch() for database in databases]
    count = 0
    try:
        for directory, name, entry in filer_entries(bucket, blobs, mtime):
            digest = hashlib.md5(directory.encode()).digest()
            batches[digest[-1] % FILER_PARTITIONS].put(digest + name.encode(), entry)
            count += 1
            if count % 100_000 == 0:
                for batch in batches:
                    batch.write()
                batches = [database.write_batch() for database in databases]
        for batch in batches:
            batch.write()
    finally:
        for database in databases:
            database.close()
    return count


CHECK_BUCKET = "filer-store-check"
CHECK_WRITTEN = {f"ef/01/{i:060x}/written-{i}.txt": f"written {i}".encode() for i in range(3)}


def check_filer_store_load(client) -> None:
    """Objects written into the store before the server started are listed (in order with
    objects put through S3), HEADed, read and deleted through the S3 API like those put."""
    client.create_bucket(Bucket=CHECK_BUCKET)
    put = {f"ab/cd/{i:060x}/put-{i}.txt": f"put {i}".encode() for i in range(3)}
    for key, data in put.items():
        client.put_object(Bucket=CHECK_BUCKET, Key=key, Body=data)
    listed = {
        entry["Key"]: entry
        for entry in client.list_objects_v2(Bucket=CHECK_BUCKET, MaxKeys=1000).get("Contents", ())
    }
    assert list(listed) == sorted({**put, **CHECK_WRITTEN}), f"listed {list(listed)}"
    for key, data in CHECK_WRITTEN.items():
        md5 = hashlib.md5(data).hexdigest()
        assert listed[key]["Size"] == len(data) and listed[key]["ETag"] == f'"{md5}"', key
        head = client.head_object(Bucket=CHECK_BUCKET, Key=key)
        assert head["ContentLength"] == len(data) and head["ETag"] == f'"{md5}"', key
        assert client.get_object(Bucket=CHECK_BUCKET, Key=key)["Body"].read() == data, key
    deleted = next(iter(CHECK_WRITTEN))
    client.delete_object(Bucket=CHECK_BUCKET, Key=deleted)
    left = [e["Key"] for e in client.list_objects_v2(Bucket=CHECK_BUCKET).get("Contents", ())]
    assert deleted not in left, "an object written into the store could not be deleted"


def bare_listing(client, bucket: str, end: str | None = None) -> tuple[int, float]:
    """Keys listed (below ``end``, when given) and the seconds it took."""
    started = time.perf_counter()
    count, after = 0, ""
    while True:
        args = {"Bucket": bucket, "MaxKeys": 1000}
        if after:
            args["StartAfter"] = after
        contents = client.list_objects_v2(**args).get("Contents", ())
        if end is not None and contents and contents[-1]["Key"] >= end:
            count += sum(1 for entry in contents if entry["Key"] < end)
            return count, time.perf_counter() - started
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


def run_cli(argv, env, kill_when=None):
    """(exit status, peak RSS KiB, wall seconds); SIGKILLed once ``kill_when()`` is true.

    The peak is the process's VmHWM, read from /proc while it runs (a high-water mark, so
    only growth in its last 0.1 s could be missed). Not wait4's ``ru_maxrss``: that counts
    the image of this (much larger) process the child had between fork and exec.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(WAREHOUSE), *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_rss_kib(process.pid))
        if kill_when is not None and kill_when():
            process.send_signal(signal.SIGKILL)
            process.wait()
            break
        time.sleep(0.1)
    return process.returncode, peak, time.perf_counter() - started


def run_figures(engine, run_id: int, end: str | None = None) -> tuple[dict, float]:
    """The run's totals and seconds (start to finish); with ``end``, over the ranges below
    ``end`` only (finished), and the seconds from the run's start to the last of them."""
    from sqlalchemy import orm

    from warehouse.storage.verify import runner

    with orm.Session(engine) as session:
        run = session.get(runner.VerifyRun, run_id)
        if end is None:
            return runner.totals(session, run), (run.finished_at - run.started_at).total_seconds()
        keys, skipped, finished = session.execute(
            sa.select(
                sa.func.sum(runner.VerifyRange.keys_done),
                sa.func.sum(runner.VerifyRange.skipped),
                sa.func.max(runner.VerifyRange.finished_at),
            ).where(runner.VerifyRange.run_id == run_id, runner.VerifyRange.lo < end)
        ).one()
        kinds = dict(
            session.execute(
                sa.select(runner.VerifyProblem.kind, sa.func.count())
                .where(
                    runner.VerifyProblem.run_id == run_id,
                    sa.collate(runner.VerifyProblem.key, "C") < end,
                )
                .group_by(runner.VerifyProblem.kind)
            ).all()
        )
        counts = {"keys": int(keys), "skipped": int(skipped)}
        counts.update({kind: kinds.get(kind, 0) for kind in runner.PROBLEMS})
        counts["ok"] = counts["keys"] - counts["skipped"] - sum(kinds.values())
        return counts, (finished - run.started_at).total_seconds()


def span_done(engine, run_id: int, end: str | None, ranges: int):
    """A predicate: the run has finished its ``ranges`` ranges below ``end``."""

    def done() -> bool:
        with engine.connect() as connection:
            finished = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM storage_verify_ranges WHERE run_id = :r"
                    " AND finished_at IS NOT NULL AND lo < :end"
                ),
                {"r": run_id, "end": end},
            )
        return finished >= ranges

    return done if end is not None else None


def last_run_id(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT coalesce(max(id), 0) FROM storage_verify_runs"))


def load_average() -> str:
    return " ".join(f"{figure:.1f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument(
        "--load",
        choices=("put", "filer-store"),
        default="put",
        help="put blobs through S3, or write them into SeaweedFS's LevelDB filer store",
    )
    parser.add_argument("--workers", type=int, default=16, help="threads writing blobs (put)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="alternate the bare pass and verify this often"
    )
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--range-digits", type=int, default=1)
    parser.add_argument(
        "--span-ranges",
        type=int,
        default=0,
        help="measure over the first N ranges only: the bare pass stops at their end and"
        " verify runs are stopped once those ranges are finished (0: the whole store)",
    )
    parser.add_argument(
        "--deep", action="store_true", help="then time a --deep run (reads and hashes every blob)"
    )
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    os.chmod(root, 0o755)
    bucket = f"bench-{secrets.token_hex(4)}"
    started = time.perf_counter()
    if options.load == "filer-store":
        print(f"writing {options.objects} blobs into the filer store ...", flush=True)
        store = root / "filerldb2"
        blobs = ((key, data) for _, key, data, _, has_blob in planted(options.objects) if has_blob)
        mtime = int(time.time()) - 86400
        entries = write_filer_store(store, bucket, blobs, mtime)
        write_filer_store(store, CHECK_BUCKET, sorted(CHECK_WRITTEN.items()), mtime)
        print(f"  {entries} filer entries in {time.perf_counter() - started:.0f} s", flush=True)
        # weed reads ./filer.toml; the server runs in ``root``.
        (root / "filer.toml").write_text(FILER_TOML.format(path=store))
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
        s3.make_bucket(bucket)
        if options.load == "filer-store":
            check_filer_store_load(client)
            print("  checked: written objects listed, HEADed, read, deleted like objects put")
        else:
            print(f"writing {options.objects} blobs through S3 ...", flush=True)
            put_blobs(client, bucket, options.objects, options.workers)
            print(f"  blobs in {time.perf_counter() - started:.0f} s")
        rows_started = time.perf_counter()
        write_rows(engine, options.objects)
        print(f"  rows (COPY) in {time.perf_counter() - rows_started:.0f} s", flush=True)
        end = None  # the whole store, or the first --span-ranges ranges
        if options.span_ranges:
            from warehouse.storage.verify.runner import split_ranges

            end = split_ranges(options.range_digits)[options.span_ranges - 1][1]
            print(f"measuring the first {options.span_ranges} ranges: keys below {end!r}")
        in_span = [
            (has_row, has_blob)
            for _, key, _, has_row, has_blob in planted(options.objects)
            if end is None or key < end
        ]
        missing = sum(1 for _, has_blob in in_span if not has_blob)
        orphans = sum(1 for has_row, _ in in_span if not has_row)

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
        bare_rates, verify_rates, peaks = [], [], []
        totals = None
        for repeat in range(options.repeats):
            listed, seconds = bare_listing(client, bucket, end)
            bare_rates.append(listed / seconds)
            print(
                f"[{repeat + 1}] bare list_objects_v2 paging: {listed} keys in {seconds:.1f} s"
                f" = {listed / seconds:.0f}/s (load average {load_average()})",
                flush=True,
            )
            run_id = last_run_id(engine) + 1
            status, peak, wall = run_cli(
                argv, env, span_done(engine, run_id, end, options.span_ranges)
            )
            run_totals, run_seconds = run_figures(engine, run_id, end)
            verify_rates.append(run_totals["keys"] / run_seconds)
            peaks.append(peak)
            print(
                f"[{repeat + 1}] verify (no --deep): exit {status}, {run_totals['keys']} keys in"
                f" {run_seconds:.1f} s = {verify_rates[-1]:.0f}/s"
                f" ({verify_rates[-1] / bare_rates[-1]:.0%} of the bare pass before it);"
                f" wall {wall:.1f} s with the interpreter's start; peak RSS {peak / 1024:.0f} MiB"
                f" (load average {load_average()})",
                flush=True,
            )
            print(f"  totals: {run_totals}")
            assert totals is None or run_totals == totals, "two runs disagree"
            totals = run_totals
        print(f"  planted: missing {missing}, orphan {orphans}")
        assert totals["missing"] == missing and totals["orphan"] == orphans, "wrong figures"
        if options.repeats > 1:
            bare, verify = statistics.median(bare_rates), statistics.median(verify_rates)
            print(
                f"medians of {options.repeats}: bare {bare:.0f}/s, verify {verify:.0f}/s"
                f" = {verify / bare:.0%}; peak RSS max {max(peaks) / 1024:.0f} MiB"
            )

        if options.kills:
            killed = last_run_id(engine) + 1
            # Kill points spread over the run, each further than the last.
            points = sorted(random.Random(12).sample(range(5, 95), options.kills))
            for kill, percent in enumerate(points):
                at = totals["keys"] * percent // 100
                # --resume alone would go on with every unfinished run (those stopped at
                # the end of a span too): name the killed one.
                status, peak_k, _ = run_cli(
                    argv + (["--resume", "--run", str(killed)] if kill else []),
                    env,
                    lambda at=at: keys_done(engine, killed) >= at,
                )
                done = keys_done(engine, killed)
                print(
                    f"  run {killed} killed (exit {status}) at {done} keys settled (aimed {at});"
                    f" peak RSS {peak_k / 1024:.0f} MiB",
                    flush=True,
                )
            status, peak_k, _ = run_cli(
                argv + ["--resume", "--run", str(killed)],
                env,
                span_done(engine, killed, end, options.span_ranges),
            )
            killed_totals, _ = run_figures(engine, killed, end)
            same = "the same" if killed_totals == totals else "DIFFERENT"
            print(
                f"  resumed after {options.kills} kills: exit {status}; totals {same};"
                f" peak RSS {peak_k / 1024:.0f} MiB"
            )
            print(f"  totals: {killed_totals}")
        if options.deep:
            status, peak_d, _ = run_cli(argv + ["--deep"], env)
            with engine.connect() as connection:
                stored = int(
                    connection.scalar(sa.text("SELECT coalesce(sum(size), 0) FROM release_files"))
                )
            deep_totals, deep_seconds = run_figures(engine, last_run_id(engine))
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
