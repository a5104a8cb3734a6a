"""The cache store against a real S3 server (SeaweedFS, two buckets): copy, lock, reconcile,
audit, deletes, downloads that fall back to the archive, and a worker that catches up."""

from __future__ import annotations

import hashlib
import secrets
import threading
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
import webtest
from botocore.config import Config

from devstack.services import free_port
from tests.support.artifacts import form_fields_for, make_wheel
from tests.support.celery_worker import celery_app_for, embedded_worker
from tests.support.factories import create_file, create_project, create_release
from tests.support.waiting import wait_for
from warehouse import tasks
from warehouse.config import configure, wsgi_app
from warehouse.packaging.management import ProjectManagement
from warehouse.packaging.models import File
from warehouse.packaging.services import DatabaseProjectService
from warehouse.storage import replication
from warehouse.storage.interfaces import BlobNotFound
from warehouse.storage.keys import content_type_for, metadata_key
from warehouse.storage.models import FileCacheStatus
from warehouse.storage.s3 import S3FileStorage

pytestmark = [pytest.mark.s3, pytest.mark.xdist_group("seaweedfs")]


@pytest.fixture(scope="module")
def buckets(seaweedfs):
    return seaweedfs.make_bucket(), seaweedfs.make_bucket()


@pytest.fixture
def stores(seaweedfs, buckets):
    prefix = f"t-{secrets.token_hex(6)}"
    archive_bucket, cache_bucket = buckets
    client = seaweedfs.client()
    return S3FileStorage(client, archive_bucket, prefix), S3FileStorage(
        client, cache_bucket, prefix
    )


@pytest.fixture
def archive(stores):
    return stores[0]


@pytest.fixture
def cache_store(stores):
    return stores[1]


@pytest.fixture
def ctx(task_context, stores):
    context = task_context(*stores, cdn_backend="none")
    tasks.set_context(context)
    yield context
    tasks.set_context(None)


def metadata_of(file: File) -> bytes:
    release = file.release
    return (
        f"Metadata-Version: 2.4\nName: {release.project.name}\nVersion: {release.version}\n"
    ).encode()


def put(store, key: str, data: bytes, tmp_path: Path) -> None:
    source = tmp_path / secrets.token_hex(4)
    source.write_bytes(data)
    store.put(key, source, content_type=content_type_for(key))


def archive_blobs(archive, file: File, tmp_path: Path) -> None:
    """What the upload would have written: the file and its sidecar."""
    put(archive, file.path, f"contents of {file.filename}".encode(), tmp_path)
    if file.metadata_sha256:
        put(archive, metadata_key(file.path), metadata_of(file), tmp_path)


@pytest.fixture
def wheel(db_session, archive, tmp_path) -> File:
    project = create_project(db_session, "cachedproj", ["1.0"], files=("wheel",))
    file = project.releases[0].files[0]
    archive_blobs(archive, file, tmp_path)
    return file


def status_of(ctx, file_id: int) -> FileCacheStatus | None:
    with ctx.session() as session:
        return session.get(FileCacheStatus, file_id)


def pend(db_session, *files: File) -> None:
    db_session.add_all(FileCacheStatus(file_id=file.id) for file in files)
    db_session.commit()


# Copying ------------------------------------------------------------------------------------


def test_copy_puts_file_and_sidecar_in_the_cache_and_verifies_them(ctx, wheel, cache_store):
    assert replication.copy_file(ctx, wheel.id) == wheel.id
    data = f"contents of {wheel.filename}".encode()
    with cache_store.open(wheel.path) as stream:
        assert stream.read() == data
    # A single PUT with Content-MD5: the object's ETag is its MD5, which audits rely on.
    assert cache_store.md5(wheel.path) == hashlib.md5(data).hexdigest() == wheel.md5_digest
    assert cache_store.exists(metadata_key(wheel.path))
    status = status_of(ctx, wheel.id)
    assert status.cached_at is not None and status.attempts == 0 and status.last_error is None
    # Idempotent: already cached, nothing to do.
    assert replication.copy_file(ctx, wheel.id) is None


def test_a_locked_row_is_skipped_not_waited_for(ctx, wheel, db_session, cache_store):
    pend(db_session, wheel)
    with ctx.session() as holder:
        holder.execute(
            sa.select(FileCacheStatus).where(FileCacheStatus.file_id == wheel.id).with_for_update()
        )
        # Another worker is on it: this one moves on at once.
        assert replication.copy_file(ctx, wheel.id) is None
        assert replication.reconcile(ctx) == 0
        assert not cache_store.exists(wheel.path)
    assert replication.copy_file(ctx, wheel.id) == wheel.id


def test_two_workers_never_copy_the_same_file(ctx, db_session, archive, cache_store, tmp_path):
    project = create_project(db_session, "many", [f"1.{i}" for i in range(8)], files=("sdist",))
    files = [release.files[0] for release in project.releases]
    for file in files:
        archive_blobs(archive, file, tmp_path)
    pend(db_session, *files)

    copies: list[str] = []
    real_put = cache_store.put

    def counting_put(key, source, **kwargs):
        copies.append(key)
        real_put(key, source, **kwargs)

    cache_store.put = counting_put
    workers = [threading.Thread(target=replication.reconcile, args=(ctx,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(copies) == sorted(file.path for file in files)
    for file in files:
        assert status_of(ctx, file.id).cached_at is not None


def test_a_corrupt_archive_blob_is_never_copied(ctx, wheel, archive, cache_store, tmp_path):
    put(archive, wheel.path, b"not the bytes that were uploaded", tmp_path)
    assert replication.copy_file(ctx, wheel.id) == wheel.id
    assert not cache_store.exists(wheel.path)
    status = status_of(ctx, wheel.id)
    assert status.cached_at is None and status.attempts == 1
    assert "does not match its digests" in status.last_error


def test_reconcile_gives_up_on_a_file_that_keeps_failing(ctx, wheel, archive, db_session):
    archive.delete(wheel.path)
    pend(db_session, wheel)
    for _ in range(replication.MAX_ATTEMPTS):
        assert replication.reconcile(ctx) == 1  # one try per run
    assert replication.reconcile(ctx) == 0
    status = status_of(ctx, wheel.id)
    assert status.attempts == replication.MAX_ATTEMPTS and "not in the archive" in status.last_error
    with ctx.session() as session:
        assert replication.pending_count(session) == 1


# The audit ----------------------------------------------------------------------------------


def test_audit_requeues_missing_and_wrong_blobs_and_drops_orphans(
    ctx, db_session, archive, cache_store, tmp_path
):
    project = create_project(db_session, "audited", ["1.0", "2.0", "3.0"], files=("wheel",))
    files = [release.files[0] for release in project.releases]
    for file in files:
        archive_blobs(archive, file, tmp_path)
    pend(db_session, *files[:2])  # the third has no row at all (uploaded before the cache)
    assert replication.reconcile(ctx) == 2
    assert replication.audit(ctx) == {
        "missing": 2,
        "mismatched": 0,
        "orphans": 0,
    }  # file 3 + sidecar
    assert replication.reconcile(ctx) == 1
    assert replication.audit(ctx) == {"missing": 0, "mismatched": 0, "orphans": 0}

    gone, changed, fine = files
    cache_store.delete(gone.path)
    put(cache_store, changed.path, b"bit rot", tmp_path)
    put(cache_store, "ab/cd/" + "0" * 60 + "/orphan-1.0.tar.gz", b"?", tmp_path)
    assert replication.audit(ctx) == {"missing": 1, "mismatched": 1, "orphans": 1}
    assert status_of(ctx, gone.id).cached_at is None
    assert status_of(ctx, changed.id).cached_at is None
    assert status_of(ctx, fine.id).cached_at is not None
    assert replication.reconcile(ctx) == 2
    assert replication.audit(ctx) == {"missing": 0, "mismatched": 0, "orphans": 0}
    with cache_store.open(changed.path) as stream:
        assert stream.read() == f"contents of {changed.filename}".encode()


def test_audit_leaves_the_stats_logs_and_datasets_alone(ctx, db_session, cache_store, tmp_path):
    # What warehouse.stats writes beside the blobs: no file names them, yet they are no orphans.
    kept = [
        "logs/2026/12/04/20261204T215500Z-host-1.log.gz",
        "datasets/downloads/2026/12/downloads-2026-12-04-2026-12-04.csv.gz",
    ]
    for key in kept:
        put(cache_store, key, b"not a package file", tmp_path)
    stray = "ab/cd/" + "1" * 60 + "/orphan-1.0.tar.gz"
    put(cache_store, stray, b"?", tmp_path)
    assert replication.audit(ctx) == {"missing": 0, "mismatched": 0, "orphans": 1}
    assert all(cache_store.exists(key) for key in kept)
    assert not cache_store.exists(stray)


# Commit hooks -------------------------------------------------------------------------------


def test_new_files_are_pending_in_their_own_transaction_and_copied_after_commit(
    ctx, archive, cache_store, tmp_path, settings
):
    # The copy task goes to a broker no worker reads: it is lost, but the pending row
    # committed with the file, so reconcile still copies it.
    with celery_app_for(settings), ctx.session() as session:
        project = create_project(session, "hooked", [], commit=False)
        release = create_release(session, project, "0.9", files=(), commit=False)
        lost = create_file(session, release, kind="sdist", commit=False)
        archive_blobs(archive, lost, tmp_path)
    assert status_of(ctx, lost.id).cached_at is None
    assert replication.reconcile(ctx) == 1 and cache_store.exists(lost.path)

    with celery_app_for(settings, task_always_eager=True):
        with ctx.session() as session:
            release = create_release(session, project, "1.0", files=(), commit=False)
            file = create_file(session, release, kind="wheel", commit=False)
            archive_blobs(archive, file, tmp_path)
            assert not cache_store.exists(file.path)
        # After the commit, copy_to_cache ran (eagerly here).
        assert cache_store.exists(file.path) and cache_store.exists(metadata_key(file.path))
        assert status_of(ctx, file.id).cached_at is not None

        with pytest.raises(RuntimeError), ctx.session() as session:
            project = create_project(session, "rolledback", ["1.0"], commit=False)
            raise RuntimeError
        with ctx.session() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(FileCacheStatus)) == 2


def test_deleting_a_file_removes_it_from_the_cache_after_commit(ctx, wheel, cache_store):
    replication.copy_file(ctx, wheel.id)
    with pytest.raises(RuntimeError), ctx.session() as session:
        file = session.get(File, wheel.id)
        ProjectManagement(session, DatabaseProjectService(session)).delete_file(file, None)
        raise RuntimeError("rolled back")
    assert cache_store.exists(wheel.path)
    with ctx.session() as session:
        project = session.get(File, wheel.id).release.project
        ProjectManagement(session, DatabaseProjectService(session)).delete_project(project, None)
    assert not cache_store.exists(wheel.path)
    assert not cache_store.exists(metadata_key(wheel.path))


# Downloads ----------------------------------------------------------------------------------


@pytest.fixture
def app(settings, clean_database, redis_client, stores):
    archive, cache_store = stores
    config = configure(
        settings,
        **{
            "db.engine": clean_database,
            "redis.client": redis_client,
            "storage.instance": archive,
            "storage.cache": cache_store,
        },
    )
    yield webtest.TestApp(wsgi_app(config))
    tasks.set_context(None)


def test_downloads_come_from_the_cache_and_fall_back_to_the_archive(
    app, archive, cache_store, tmp_path
):
    key = "ab/cd/" + "1" * 60 + "/demo-1.0.tar.gz"
    put(archive, key, b"from the archive", tmp_path)
    response = app.get(f"/packages/{key}")
    assert response.body == b"from the archive"
    assert response.headers["Surrogate-Key"] == "file/demo-1.0.tar.gz"
    assert response.headers["Surrogate-Control"] == "max-age=31536000"
    # Once in the cache, downloads are read there.
    put(cache_store, key, b"from the cache", tmp_path)
    assert app.get(f"/packages/{key}").body == b"from the cache"
    assert app.get(f"/packages/{key}", headers={"Range": "bytes=5-7"}).body == b"the"
    app.get("/packages/ab/cd/" + "2" * 60 + "/missing-1.0.tar.gz", status=404)


def test_a_failing_cache_store_does_not_fail_downloads(app, archive, tmp_path):
    key = "ab/cd/" + "3" * 60 + "/demo-2.0.tar.gz"
    put(archive, key, b"still here", tmp_path)
    # A cache store that is down: nothing listens on its port.
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    app.app.registry["storage.cache"] = S3FileStorage(client, "cache")
    assert app.get(f"/packages/{key}").body == b"still here"


# A worker that is down during the upload ----------------------------------------------------


def upload(app, path: Path, name: str, version: str, headers) -> None:
    fields = form_fields_for(path, name, version)
    params = [(key, value) for key, values in fields.items() for value in values]
    app.post(
        "/legacy/",
        params=[*params, ("content", webtest.Upload(path.name, path.read_bytes()))],
        headers=headers,
    )


def test_an_upload_reaches_the_cache_once_a_worker_runs(
    app, auth_headers, tmp_path, settings, cache_store, db_session
):
    wheel = make_wheel(tmp_path, "latecomer", "1.0")
    with celery_app_for(settings):
        # No worker: the upload succeeds from the archive alone; the copy waits in the queue.
        upload(app, wheel, "latecomer", "1.0", auth_headers)
        file = db_session.scalar(sa.select(File).where(File.filename == wheel.name))
        with pytest.raises(BlobNotFound):
            cache_store.stat(file.path)
        assert app.get(f"/packages/{file.path}").body == wheel.read_bytes()
        with embedded_worker():
            wait_for(lambda: cache_store.exists(file.path), message="never copied")
        assert status_of(tasks.context(), file.id).cached_at is not None
