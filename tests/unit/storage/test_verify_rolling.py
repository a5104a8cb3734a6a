"""The rolling pass (beat → one task per range), its metrics, and verification of the local
file-system backend."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest

from tests.support.factories import create_project, create_release
from warehouse import tasks
from warehouse.metrics import registry_for_scrape
from warehouse.packaging.models import File
from warehouse.storage.keys import content_key
from warehouse.storage.local import LocalFileStorage
from warehouse.storage.verify import rolling, runner
from warehouse.storage.verify.models import VerifyRange, VerifyRun


@pytest.fixture
def local_ctx(task_context, tmp_path):
    return task_context(
        LocalFileStorage(tmp_path / "archive", fsync=False),
        LocalFileStorage(tmp_path / "cache", fsync=False),
        verify_orphan_min_age_seconds=0,
        verify_range_digits=1,
        verify_full_pass_days=1,
    )


def add_file(session, release, data: bytes, store, tmp_path) -> File:
    blake2 = hashlib.blake2b(data, digest_size=32).hexdigest()
    name = f"local-{blake2[:8]}.tar.gz"
    # One sdist per release (the database holds it): each gets a release of its own.
    release = create_release(
        session, release.project, f"0.dev{int(blake2[:8], 16)}", files=(), commit=False
    )
    file = File(
        release=release,
        filename=name,
        packagetype="sdist",
        python_version="source",
        size=len(data),
        md5_digest=hashlib.md5(data).hexdigest(),
        sha256_digest=hashlib.sha256(data).hexdigest(),
        blake2_256_digest=blake2,
        path=content_key(blake2, name),
    )
    session.add(file)
    session.commit()
    if store is not None:
        source = tmp_path / "blob"
        source.write_bytes(data)
        store.put(file.path, source, content_type="application/gzip")
    return file


def test_beat_slices_a_rolling_run_and_the_last_range_closes_it(local_ctx, db_session, tmp_path):
    release = create_project(db_session, "rolled", ["1.0"], files=()).releases[0]
    for i in range(5):
        add_file(db_session, release, f"kept {i}".encode(), local_ctx.archive, tmp_path)
    lost = add_file(db_session, release, b"lost", None, tmp_path)
    sent: list[tuple[int, int]] = []

    # 16 ranges over a day of hours: one range an hour, for each store.
    assert rolling.verify_slice(local_ctx, send=lambda *a: sent.append(a)) == {
        "archive": 1,
        "cache": 1,
    }
    with local_ctx.session() as session:
        runs = session.scalars(sa.select(VerifyRun).order_by(VerifyRun.id)).all()
        assert [(r.store, r.rolling, len(r.ranges)) for r in runs] == [
            ("archive", True, 16),
            ("cache", True, 16),
        ]
        archive_run = runs[0].id
    # Every range of the archive's run, as the hourly tasks would over a day.
    with local_ctx.session() as session:
        ranges = session.scalars(
            sa.select(VerifyRange.id).where(VerifyRange.run_id == archive_run)
        ).all()
    for range_id in ranges:
        assert runner.verify_one_range(local_ctx, archive_run, range_id, page_size=2)
    with local_ctx.session() as session:
        run = session.get(VerifyRun, archive_run)
        assert run.finished_at is not None
        counts = runner.totals(session, run)
    assert counts["missing"] == 1 and counts["ok"] == 5
    # A range already done is not done again.
    assert not runner.verify_one_range(local_ctx, archive_run, ranges[0])
    # The next slice starts no second archive run while the cache's is open, and a new one
    # once the archive's has finished.
    sent.clear()
    rolling.verify_slice(local_ctx, send=lambda *a: sent.append(a))
    with local_ctx.session() as session:
        stores = session.execute(
            sa.select(VerifyRun.store, sa.func.count()).group_by(VerifyRun.store)
        ).all()
    assert dict(stores) == {"archive": 2, "cache": 1}

    scrape = generate_latest(registry_for_scrape(lambda: local_ctx)).decode()
    assert 'warehouse_storage_verify_last_run_problems{kind="missing",store="archive"} 1.0' in (
        scrape
    )
    assert 'warehouse_storage_verify_last_full_pass_timestamp_seconds{store="archive"}' in scrape
    assert 'warehouse_storage_verify_progress_ratio{run="2",store="cache"}' in scrape
    assert lost.path in {p.key for p in _problems(local_ctx, archive_run)}


def _problems(ctx, run_id):
    with ctx.session() as session:
        return session.scalars(
            sa.select(runner.VerifyProblem).where(runner.VerifyProblem.run_id == run_id)
        ).all()


def test_verify_tasks_go_to_their_own_queue_and_beat_runs_them_hourly(settings):
    config = tasks.celery_config(settings)
    assert config["beat_schedule"]["storage-verify-slice"] == {
        "task": "warehouse.storage.tasks.verify_slice",
        "schedule": 3600,
        "options": {"expires": 3600},
    }
    for name in ("verify_range", "verify_slice"):
        route = config["task_routes"][f"warehouse.storage.tasks.{name}"]
        assert route == {"queue": tasks.VERIFY_QUEUE}
    # The worker consumes it without being told (-Q).
    assert tasks.VERIFY_QUEUE in {queue.name for queue in config["task_queues"]}


def test_local_backend_repair_and_orphans(local_ctx, db_session, tmp_path):
    release = create_project(db_session, "localrepair", ["1.0"], files=()).releases[0]
    only_in_cache = add_file(db_session, release, b"cache has it", local_ctx.cache, tmp_path)
    source = tmp_path / "stray"
    source.write_bytes(b"stray")
    stray = content_key("9" * 64, "stray.tar.gz")
    local_ctx.archive.put(stray, source, content_type="application/gzip")
    with local_ctx.session() as session:
        run_id = runner.start_run(session, "archive", digits=1, repair=True).id
    assert runner.verify_run(local_ctx, run_id, page_size=3)
    found = {p.key: (p.kind, p.action) for p in _problems(local_ctx, run_id)}
    assert found == {
        only_in_cache.path: ("missing", "copied from the cache"),
        stray: ("orphan", f"moved to quarantine/{stray}"),
    }
    assert local_ctx.archive.open(only_in_cache.path).read() == b"cache has it"
    assert local_ctx.archive.exists(f"quarantine/{stray}")
    assert not local_ctx.archive.exists(stray)
