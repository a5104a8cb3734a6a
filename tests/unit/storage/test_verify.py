"""Store verification against real S3 buckets (SeaweedFS): every class, repair, quarantine,
writes during a run, and a CLI process killed with SIGKILL that resumes to the same totals."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.celery_worker import celery_app_for
from tests.support.factories import create_project, create_release
from warehouse import tasks
from warehouse.packaging.models import File
from warehouse.storage.interfaces import BlobNotFound
from warehouse.storage.keys import content_key, content_type_for, metadata_key
from warehouse.storage.s3 import S3FileStorage
from warehouse.storage.verify import runner
from warehouse.storage.verify.models import UnavailableFile, VerifyProblem, VerifyRange

pytestmark = [pytest.mark.s3, pytest.mark.xdist_group("seaweedfs")]


@pytest.fixture(scope="module")
def buckets(seaweedfs):
    return seaweedfs.make_bucket(), seaweedfs.make_bucket()


@pytest.fixture
def prefix():
    return f"v-{secrets.token_hex(6)}"


@pytest.fixture
def stores(seaweedfs, buckets, prefix):
    client = seaweedfs.client()
    return S3FileStorage(client, buckets[0], prefix), S3FileStorage(client, buckets[1], prefix)


@pytest.fixture
def ctx(task_context, stores):
    # Blobs written by the test just before a run are old enough to be judged.
    context = task_context(*stores, cdn_backend="none", verify_orphan_min_age_seconds=0)
    tasks.set_context(context)
    # Sessions of the context send copy_to_cache after commits: to the test's Redis.
    with celery_app_for(context.settings):
        yield context
    tasks.set_context(None)


@pytest.fixture
def release(db_session):
    return create_project(db_session, "verified", ["1.0"], files=()).releases[0]


def content_starting_with(lead: str, tag: str) -> bytes:
    """Bytes whose BLAKE2b-256 (so whose key) starts with ``lead``: to aim at a range."""
    for nonce in range(100_000):
        data = f"{tag} {nonce}".encode()
        if hashlib.blake2b(data, digest_size=32).hexdigest().startswith(lead):
            return data
    raise AssertionError("no such content")


def new_file(session, release, data: bytes, *, wheel: bool = True, commit: bool = True) -> File:
    blake2 = hashlib.blake2b(data, digest_size=32).hexdigest()
    if not wheel:
        # One sdist per release (the database holds it): each sdist gets a release of its own.
        release = create_release(
            session, release.project, f"0.dev{int(blake2[:8], 16)}", files=(), commit=False
        )
    filename = f"verified-{blake2[:12]}-py3-none-any.whl" if wheel else f"v-{blake2[:12]}.tar.gz"
    meta = b"Metadata-Version: 2.4\nName: verified\n" + blake2.encode()
    file = File(
        release=release,
        filename=filename,
        packagetype="bdist_wheel" if wheel else "sdist",
        python_version="py3",
        size=len(data),
        md5_digest=hashlib.md5(data).hexdigest(),
        sha256_digest=hashlib.sha256(data).hexdigest(),
        blake2_256_digest=blake2,
        path=content_key(blake2, filename),
        metadata_sha256=hashlib.sha256(meta).hexdigest() if wheel else None,
        metadata_blake2_256=hashlib.blake2b(meta, digest_size=32).hexdigest() if wheel else None,
    )
    file._data = data  # what the test writes to the stores
    file._meta = meta if wheel else None
    session.add(file)
    if commit:
        session.commit()
    return file


def put(store, key: str, data: bytes, tmp_path: Path) -> None:
    source = tmp_path / secrets.token_hex(6)
    source.write_bytes(data)
    store.put(key, source, content_type=content_type_for(key))
    source.unlink()


def store_blobs(store, file: File, tmp_path: Path) -> None:
    put(store, file.path, file._data, tmp_path)
    if file._meta is not None:
        put(store, metadata_key(file.path), file._meta, tmp_path)


def run_verify(ctx, store="archive", **options):
    with ctx.session() as session:
        run = runner.start_run(session, store, digits=options.pop("digits", 1), **options)
        run_id = run.id
    page_size = options.pop("page_size", 4)
    assert runner.verify_run(ctx, run_id, page_size=page_size)
    return run_id


def problems_of(ctx, run_id) -> dict[str, tuple[str, str | None]]:
    with ctx.session() as session:
        rows = session.scalars(sa.select(VerifyProblem).where(VerifyProblem.run_id == run_id))
        return {p.key: (p.kind, p.action) for p in rows}


def totals_of(ctx, run_id) -> dict[str, int]:
    with ctx.session() as session:
        return runner.totals(session, session.get(runner.VerifyRun, run_id))


def test_ranges_cover_every_key_in_order():
    ranges = runner.split_ranges(2)
    assert len(ranges) == 256
    assert ranges[0] == ("", "01")
    assert ranges[1] == ("01", "02")
    assert ranges[-1] == ("ff", None)
    assert runner.split_ranges(3)[1] == ("00/1", "00/2")
    for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False):
        assert hi == lo
    assert runner.key_prefix("abcde") == "ab/cd/e"
    with pytest.raises(runner.VerifyError):
        runner.split_ranges(5)


def test_every_class_is_found_on_real_buckets(ctx, db_session, release, stores, tmp_path):
    archive, _ = stores
    good = [new_file(db_session, release, f"good {i}".encode()) for i in range(6)]
    for file in good:
        store_blobs(archive, file, tmp_path)
    missing = new_file(db_session, release, b"missing blob", wheel=False)
    short = new_file(db_session, release, b"size differs", wheel=False)
    put(archive, short.path, b"size differs!", tmp_path)
    swapped = new_file(db_session, release, b"same size, other bytes", wheel=False)
    put(archive, swapped.path, b"same size, OTHER bytes", tmp_path)
    # A sidecar has no recorded size or MD5: only --deep can tell its bytes are wrong.
    bad_sidecar = new_file(db_session, release, b"sidecar corrupt")
    put(archive, bad_sidecar.path, bad_sidecar._data, tmp_path)
    put(archive, metadata_key(bad_sidecar.path), b"x" * len(bad_sidecar._meta), tmp_path)
    # Stored with a customer key (SSE-C): listed, but nobody without the key can read it.
    locked = new_file(db_session, release, b"locked away", wheel=False)
    archive.client.put_object(
        Bucket=archive.bucket,
        Key=archive.prefix + locked.path,
        Body=locked._data,
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=os.urandom(32),
    )
    orphan_key = content_key("ab" * 32, "nobody-1.0.tar.gz")
    put(archive, orphan_key, b"no row names me", tmp_path)

    shallow = run_verify(ctx)
    assert problems_of(ctx, shallow) == {
        missing.path: ("missing", None),
        short.path: ("size_mismatch", None),
        swapped.path: ("digest_mismatch", None),  # the listing's ETag is the MD5
        orphan_key: ("orphan", None),
    }
    counts = totals_of(ctx, shallow)
    keys = 6 * 2 + 1 + 1 + 1 + 2 + 1 + 1  # rows' blobs and the orphan
    assert counts["keys"] == keys
    assert counts["ok"] == keys - 4
    assert counts["skipped"] == 0

    deep = run_verify(ctx, deep=True)
    found = problems_of(ctx, deep)
    assert found[metadata_key(bad_sidecar.path)] == ("digest_mismatch", None)
    assert found[locked.path][0] == "unreadable"
    assert len(found) == 6
    assert totals_of(ctx, deep)["ok"] == keys - 6
    # Nothing was touched without --repair.
    assert archive.exists(orphan_key)
    assert not archive.exists(missing.path)


def test_the_next_page_is_listed_while_a_page_is_checkpointed(
    ctx, db_session, release, stores, tmp_path, monkeypatch
):
    # The listing is the slow side of a run: the next page must already be asked for while
    # a page is merged and checkpointed. Each checkpoint waits for that request; a verifier
    # that asks only after its checkpoint fails here.
    archive, _ = stores
    files = [new_file(db_session, release, f"paged {i}".encode()) for i in range(9)]
    for file in files:
        store_blobs(archive, file, tmp_path)
    asked: list[str] = []
    asked_changed = threading.Condition()
    list_page = archive.list_page

    def recording_list_page(start_after="", limit=1000):
        with asked_changed:
            asked.append(start_after)
            asked_changed.notify_all()
        return list_page(start_after, limit)

    checkpoint = runner._checkpoint
    waited = []

    def checkpoint_after_next_request(engine, range_id, owner, lease, settled, result, end):
        if not end:
            with asked_changed:
                requested = asked_changed.wait_for(lambda: settled in asked, timeout=10)
            assert requested, f"the page after {settled} was not asked for before checkpoint"
            waited.append(settled)
        return checkpoint(engine, range_id, owner, lease, settled, result, end)

    monkeypatch.setattr(archive, "list_page", recording_list_page)
    monkeypatch.setattr(runner, "_checkpoint", checkpoint_after_next_request)
    run_id = run_verify(ctx, digits=0)  # pages of 4 keys

    assert len(waited) == 4  # 18 keys in pages of 4: four pages before the last
    assert asked == ["", *waited]  # and no page asked for twice, none past the end
    counts = totals_of(ctx, run_id)
    assert counts["keys"] == 18 and counts["ok"] == 18


def test_report_is_json_lines_with_totals(ctx, db_session, release, stores, tmp_path):
    from click.testing import CliRunner

    from warehouse.cli.storage import verify

    archive, cache_store = stores
    file = new_file(db_session, release, b"report me")
    put(archive, file.path, file._data, tmp_path)  # its sidecar is missing
    env = {
        "DATABASE_URL": ctx.settings.database_url,
        "REDIS_URL": ctx.settings.redis_url,
        **s3_env(archive, cache_store),
        "WAREHOUSE_VERIFY_ORPHAN_MIN_AGE_SECONDS": "0",
        "WAREHOUSE_VERIFY_RANGE_DIGITS": "0",
    }
    report = tmp_path / "report.jsonl"
    result = CliRunner().invoke(
        verify, ["--store", "archive", "--json", str(report)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 3, result.output
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert lines[0]["key"] == metadata_key(file.path)
    assert lines[0]["class"] == "missing"
    assert lines[0]["action"] == "none"
    assert lines[-1]["totals"]["missing"] == 1
    assert lines[-1]["totals"]["ok"] == 1
    status = CliRunner().invoke(verify, ["--status"], env=env)
    assert "finished" in status.output and "archive" in status.output


def test_spread_run_is_verified_by_a_real_worker_with_the_same_totals(
    ctx, db_session, release, stores, tmp_path
):
    from click.testing import CliRunner

    from tests.support.celery_worker import embedded_worker
    from warehouse.cli.storage import verify

    archive, cache_store = stores
    files = [new_file(db_session, release, f"spread {i}".encode()) for i in range(12)]
    for file in files[2:]:
        store_blobs(archive, file, tmp_path)
    put(archive, content_key("cd" * 32, "stray-1.0.tar.gz"), b"nobody's", tmp_path)
    env = {
        "DATABASE_URL": ctx.settings.database_url,
        "REDIS_URL": ctx.settings.redis_url,
        **s3_env(archive, cache_store),
        "WAREHOUSE_VERIFY_ORPHAN_MIN_AGE_SECONDS": "0",
    }
    in_process = run_verify(ctx)

    # The CLI only sends the ranges and watches; the worker thread verifies every one of them.
    with embedded_worker():
        result = CliRunner().invoke(
            verify,
            ["--store", "archive", "--spread", "--range-digits", "1"],
            env=env,
            catch_exceptions=False,
        )
    assert result.exit_code == 3, result.output
    with ctx.session() as session:
        spread_run = session.scalar(
            sa.select(runner.VerifyRun).order_by(runner.VerifyRun.id.desc())
        )
        ranges = session.scalars(
            sa.select(VerifyRange).where(VerifyRange.run_id == spread_run.id)
        ).all()
        assert spread_run.finished_at is not None
        assert len(ranges) == 16 and all(r.finished_at is not None for r in ranges)
    assert totals_of(ctx, spread_run.id) == totals_of(ctx, in_process)
    assert problems_of(ctx, spread_run.id) == problems_of(ctx, in_process)


def test_repair_copies_between_stores_and_quarantines_orphans(
    ctx, db_session, release, stores, tmp_path
):
    archive, cache_store = stores
    lost_in_archive = new_file(db_session, release, b"only the cache has me")
    store_blobs(cache_store, lost_in_archive, tmp_path)
    lost_in_cache = new_file(db_session, release, b"only the archive has me")
    store_blobs(archive, lost_in_cache, tmp_path)
    corrupt_in_archive = new_file(db_session, release, b"good bytes", wheel=False)
    put(archive, corrupt_in_archive.path, b"bad  bytes", tmp_path)
    put(cache_store, corrupt_in_archive.path, corrupt_in_archive._data, tmp_path)
    lost_everywhere = new_file(db_session, release, b"gone", wheel=False)
    # The cache's copy is corrupt too: it must not be copied back.
    poisoned = new_file(db_session, release, b"poisoned", wheel=False)
    put(cache_store, poisoned.path, b"POISONED", tmp_path)
    orphan_key = content_key("cd" * 32, "stray-1.0.tar.gz")
    put(archive, orphan_key, b"stray", tmp_path)

    run = run_verify(ctx, "archive", repair=True, deep=True)
    found = problems_of(ctx, run)
    assert found[lost_in_archive.path] == ("missing", "copied from the cache")
    assert found[metadata_key(lost_in_archive.path)] == ("missing", "copied from the cache")
    assert found[corrupt_in_archive.path] == ("digest_mismatch", "copied from the cache")
    assert found[lost_everywhere.path][1].startswith("file marked unavailable")
    assert found[poisoned.path][1].startswith("file marked unavailable")
    assert found[orphan_key] == ("orphan", f"moved to quarantine/{orphan_key}")
    assert archive.open(lost_in_archive.path).read() == lost_in_archive._data
    assert archive.open(corrupt_in_archive.path).read() == corrupt_in_archive._data
    assert not archive.exists(poisoned.path)
    assert not archive.exists(orphan_key)
    assert archive.open(f"quarantine/{orphan_key}").read() == b"stray"
    with ctx.session() as session:
        unavailable = set(session.scalars(sa.select(UnavailableFile.file_id)))
    assert unavailable == {lost_everywhere.id, poisoned.id}
    counts = totals_of(ctx, run)
    assert counts["repaired"] == 4
    assert counts["unavailable"] == 2

    run = run_verify(ctx, "cache", repair=True)
    assert problems_of(ctx, run)[lost_in_cache.path] == ("missing", "copied from the archive")
    assert cache_store.open(lost_in_cache.path).read() == lost_in_cache._data

    # The next archive run finds it all well again; the quarantined orphan stays until a
    # run is told its grace period is over.
    again = run_verify(ctx, "archive", repair=True, delete_orphans_after=3600)
    assert set(problems_of(ctx, again)) == {lost_everywhere.path, poisoned.path}
    assert archive.exists(f"quarantine/{orphan_key}")
    purge = run_verify(ctx, "archive", repair=True, delete_orphans_after=0)
    assert problems_of(ctx, purge)[f"quarantine/{orphan_key}"] == ("orphan_expired", "deleted")
    assert not archive.exists(f"quarantine/{orphan_key}")
    assert totals_of(ctx, purge)["orphans_deleted_from_quarantine"] == 1


def test_the_stats_logs_and_datasets_are_not_orphans(ctx, db_session, release, stores, tmp_path):
    archive, _ = stores
    kept = [
        "logs/2026/12/04/20261204T215500Z-host-1.log.gz",
        "datasets/downloads/2026/12/downloads-2026-12-04-2026-12-04.parquet",
    ]
    for key in kept:
        put(archive, key, b"not a package file", tmp_path)
    orphan_key = content_key("da" * 32, "stray-1.0.tar.gz")  # in the range datasets/ sorts in
    put(archive, orphan_key, b"stray", tmp_path)
    # Whole store or split by key digits ("datasets/" then sorts into the "d" range, beside
    # content keys): no range judges the two prefixes. (Two digits, 256 ranges, prove no more
    # and took a minute.)
    for digits in (0, 1):
        run = run_verify(ctx, "archive", repair=True, digits=digits)
        assert set(problems_of(ctx, run)) <= {orphan_key}
    assert all(archive.open(key).read() == b"not a package file" for key in kept)
    assert not archive.exists(orphan_key)


def test_writes_during_a_run_are_never_called_missing_or_orphan(
    ctx, db_session, release, stores, tmp_path
):
    """A cache run with --repair while files are uploaded and deleted under it.

    Aimed with content addresses: the writes happen once the run's last range ("f...") has
    read its rows (the cursor's snapshot) and settled its first page (``f0``)."""
    archive, cache_store = stores
    settled = new_file(db_session, release, content_starting_with("0", "early"))
    first = new_file(db_session, release, content_starting_with("f0", "first page"))
    filler = new_file(db_session, release, content_starting_with("f1", "second page"))
    # In the snapshot, then deleted with its blobs: neither missing nor orphan.
    doomed = new_file(db_session, release, content_starting_with("fc", "deleted mid-run"))
    # Missing from the cache, deleted before the run gets to it: must not be copied back.
    uncached = new_file(db_session, release, content_starting_with("ff", "never cached"))
    for file in (settled, first, filler, doomed, uncached):
        store_blobs(archive, file, tmp_path)
    for file in (settled, first, filler, doomed):
        store_blobs(cache_store, file, tmp_path)
    late_data = content_starting_with("f8", "uploaded mid-run")
    inflight_data = content_starting_with("fa", "in flight")
    doomed_id, doomed_path, uncached_id = doomed.id, doomed.path, uncached.id
    uncached_path = uncached.path
    with ctx.session() as session:
        run_id = runner.start_run(session, "cache", digits=1, repair=True).id
    time.sleep(1.1)  # blobs written from now on are newer than the run (1 s resolution)
    writes = {}

    def write_mid_run(_keys):
        with ctx.engine.connect() as connection:
            position = connection.scalar(
                sa.select(VerifyRange.position).where(
                    VerifyRange.run_id == run_id, VerifyRange.lo == "f"
                )
            )
        if writes or position is None:
            return
        session = ctx.session_factory()
        rel = session.get(type(release), release.id)
        # An upload whose blob is written but whose row is not committed yet.
        inflight = new_file(session, rel, inflight_data, commit=False)
        writes["inflight"] = inflight.path
        store_blobs(cache_store, inflight, tmp_path)
        session.rollback()
        late = new_file(session, rel, late_data, commit=False)
        writes["late"] = late.path
        store_blobs(archive, late, tmp_path)
        store_blobs(cache_store, late, tmp_path)
        session.execute(sa.delete(File).where(File.id.in_([doomed_id, uncached_id])))
        session.commit()
        session.close()
        for key in (doomed_path, metadata_key(doomed_path)):
            archive.delete(key)
            cache_store.delete(key)

    assert runner.verify_run(ctx, run_id, page_size=2, on_page=write_mid_run)
    assert writes, "the run never reached its last range"
    assert problems_of(ctx, run_id) == {}
    assert cache_store.exists(writes["inflight"])  # not taken for an orphan
    assert cache_store.exists(writes["late"])
    assert not cache_store.exists(uncached_path)  # deleted: not copied back
    counts = totals_of(ctx, run_id)
    assert counts["ok"] == 6  # settled, first and filler, with their sidecars
    # late and in-flight (listed, newer than the run), doomed and uncached (rows gone).
    assert counts["skipped"] == 8


def s3_env(archive, cache_store) -> dict[str, str]:
    client = archive.client
    creds = client._request_signer._credentials
    return {
        "WAREHOUSE_FILES_BACKEND": "s3",
        "WAREHOUSE_S3_ENDPOINT_URL": client.meta.endpoint_url,
        "WAREHOUSE_S3_BUCKET": archive.bucket,
        "WAREHOUSE_S3_PREFIX": archive.prefix,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "WAREHOUSE_CACHE_BACKEND": "s3",
        "WAREHOUSE_CACHE_S3_ENDPOINT_URL": client.meta.endpoint_url,
        "WAREHOUSE_CACHE_S3_BUCKET": cache_store.bucket,
        "WAREHOUSE_CACHE_S3_PREFIX": cache_store.prefix,
        "WAREHOUSE_CACHE_ACCESS_KEY_ID": creds.access_key,
        "WAREHOUSE_CACHE_SECRET_ACCESS_KEY": creds.secret_key,
    }


def _run_cli(argv, env):
    os.environ.update(env)
    from warehouse.cli import main

    main(argv)


def fork_cli(argv, env):
    child = multiprocessing.get_context("fork").Process(target=_run_cli, args=(argv, env))
    child.start()
    return child


def test_killed_with_sigkill_twice_resumes_to_the_same_totals(
    ctx, db_session, release, stores, tmp_path
):
    archive, cache_store = stores
    files = [new_file(db_session, release, f"many {i}".encode(), commit=False) for i in range(150)]
    db_session.commit()
    missing = files[:10]
    damaged = files[10:15]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda f: store_blobs(archive, f, tmp_path), files[10:]))
        list(pool.map(lambda f: store_blobs(cache_store, f, tmp_path), missing + damaged))
        list(
            pool.map(lambda f: put(archive, f.path, f._data + b"!", tmp_path), damaged),
        )
        orphans = [content_key(f"{i:02x}" * 32, f"orphan-{i}.tar.gz") for i in range(7)]
        list(pool.map(lambda k: put(archive, k, b"orphan", tmp_path), orphans))
    env = {
        "DATABASE_URL": ctx.settings.database_url,
        "REDIS_URL": ctx.settings.redis_url,
        **s3_env(archive, cache_store),
        "WAREHOUSE_VERIFY_ORPHAN_MIN_AGE_SECONDS": "0",
        "WAREHOUSE_VERIFY_PAGE_SIZE": "3",
        "WAREHOUSE_VERIFY_RANGE_DIGITS": "1",
    }
    argv = ["storage", "verify", "--store", "archive", "--repair"]

    def keys_done() -> int:
        with ctx.engine.connect() as connection:
            return connection.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(VerifyRange.keys_done), 0))
            )

    # The real CLI in a forked process (a fresh interpreter takes 5-25 s to import on a
    # busy machine), killed with SIGKILL twice in mid-run.
    for attempt in range(2):
        child = fork_cli(argv + (["--resume"] if attempt else []), env)
        before = keys_done()
        deadline = time.monotonic() + 60
        while keys_done() < before + 40 and child.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert child.is_alive(), f"the run ended before it could be killed ({child.exitcode})"
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
    with ctx.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(runner.VerifyRun)) == 1
        assert connection.scalar(sa.select(runner.VerifyRun.finished_at)) is None
    child = fork_cli(argv + ["--resume"], env)
    child.join(120)
    assert child.exitcode == 0
    with ctx.session() as session:
        run = session.scalars(sa.select(runner.VerifyRun)).one()
        counts = runner.totals(session, run)
    keys = 150 * 2 + len(orphans)
    assert counts == {
        "keys": keys,
        "skipped": 0,
        "missing": 20,  # each file and its sidecar
        "orphan": 7,
        "size_mismatch": 5,
        "digest_mismatch": 0,
        "unreadable": 0,
        "ok": keys - 32,
        "orphans_deleted_from_quarantine": 0,
        "repaired": 32,
        "unavailable": 0,
    }
    for file in missing + damaged:
        assert archive.open(file.path).read() == file._data
    for key in orphans:
        with pytest.raises(BlobNotFound):
            archive.stat(key)
