"""Uploads while a backend is down: 503 with a sentence, and nothing left behind."""

from __future__ import annotations

import errno

import botocore.exceptions
import pytest
import redis as redis_lib
import sqlalchemy as sa
import transaction
import webtest

from devstack.services import free_port
from tests.functional.test_upload import post_upload, stored_blobs
from tests.support.artifacts import make_wheel
from warehouse.config import configure, wsgi_app
from warehouse.packaging.models import File
from warehouse.storage.local import LocalFileStorage
from warehouse.upload import services
from warehouse.upload.tasks import remove_unowned_blobs


def _database_gone():
    raise sa.exc.OperationalError("COMMIT", {}, Exception("terminating connection"))


@pytest.fixture
def make_app(settings, clean_database, redis_client):
    config = {"db.engine": clean_database, "redis.client": redis_client}
    return lambda: webtest.TestApp(wsgi_app(configure(settings, **config)))


@pytest.fixture
def failing_commit(monkeypatch):
    real_commit = transaction.TransactionManager.commit

    def commit(self):
        self.get().addBeforeCommitHook(_database_gone)
        return real_commit(self)

    monkeypatch.setattr(transaction.TransactionManager, "commit", commit)


def test_a_commit_cut_by_the_database_answers_503_and_removes_the_blob(
    make_app, auth_headers, tmp_path, settings, db_session, failing_commit
):
    response = post_upload(make_app(), make_wheel(tmp_path, "cut", "1.0"), auth_headers, status=503)
    assert "database is unavailable" in response.status
    assert response.headers["Retry-After"]
    assert stored_blobs(settings) == []
    db_session.rollback()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(File)) == 0


def test_when_the_database_cannot_say_who_owns_the_blob_a_task_removes_it_later(
    make_app, auth_headers, tmp_path, settings, monkeypatch, failing_commit, task_context
):
    sent = []
    monkeypatch.setattr(remove_unowned_blobs, "send_now", lambda args: sent.append(args))
    real_session = services.orm.Session

    class Unreachable(real_session):
        def scalar(self, *args, **kwargs):
            _database_gone()

    monkeypatch.setattr(services.orm, "Session", Unreachable)
    post_upload(make_app(), make_wheel(tmp_path, "later", "1.0"), auth_headers, status=503)
    monkeypatch.setattr(services.orm, "Session", real_session)

    # Left for the task, which the database's return lets decide.
    file_key, keys = sent[0]
    assert stored_blobs(settings) == sorted(keys) and file_key in keys
    ctx = task_context(LocalFileStorage(settings.files_path))
    monkeypatch.setattr("warehouse.tasks._context", ctx)
    assert remove_unowned_blobs.run(file_key, keys) is True
    assert stored_blobs(settings) == []


def test_the_task_leaves_blobs_a_committed_file_owns(
    webapp, auth_headers, tmp_path, settings, monkeypatch, task_context
):
    post_upload(webapp, make_wheel(tmp_path, "owned", "1.0"), auth_headers)
    keys = stored_blobs(settings)
    monkeypatch.setattr(
        "warehouse.tasks._context", task_context(LocalFileStorage(settings.files_path))
    )
    (file_key,) = [key for key in keys if key.endswith(".whl")]
    assert remove_unowned_blobs.run(file_key, keys) is False
    assert stored_blobs(settings) == keys


def test_redis_down_answers_uploads_503(settings, clean_database, auth_headers, tmp_path):
    dead = redis_lib.Redis(port=free_port(), socket_connect_timeout=1)
    app = webtest.TestApp(
        wsgi_app(configure(settings, **{"db.engine": clean_database, "redis.client": dead}))
    )
    response = post_upload(app, make_wheel(tmp_path, "noredis", "1.0"), auth_headers, status=503)
    assert "Redis" in response.status
    assert stored_blobs(settings) == []


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3"), "file store"),
        (OSError(errno.ENOSPC, "No space left on device"), "no room left for uploads"),
    ],
)
def test_a_store_that_fails_answers_503_and_keeps_no_row(
    make_app, auth_headers, tmp_path, settings, db_session, monkeypatch, error, said
):
    def put(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(LocalFileStorage, "put", put)
    response = post_upload(
        make_app(), make_wheel(tmp_path, "nostore", "1.0"), auth_headers, status=503
    )
    assert said in response.status
    db_session.rollback()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(File)) == 0


def test_a_put_that_failed_but_landed_is_removed_and_a_failed_removal_is_left_to_a_task(
    make_app, auth_headers, tmp_path, settings, monkeypatch
):
    real_put = LocalFileStorage.put

    def put(self, key, *args, **kwargs):
        real_put(self, key, *args, **kwargs)
        raise botocore.exceptions.ReadTimeoutError(endpoint_url="http://s3")  # it did land

    def delete(self, key):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3")

    sent = []
    monkeypatch.setattr(LocalFileStorage, "put", put)
    monkeypatch.setattr(LocalFileStorage, "delete", delete)
    monkeypatch.setattr(remove_unowned_blobs, "send_now", lambda args: sent.append(args))
    post_upload(make_app(), make_wheel(tmp_path, "landed", "1.0"), auth_headers, status=503)
    (file_key,) = stored_blobs(settings)
    assert sent == [(file_key, [file_key])]


def test_a_bug_is_still_a_500(make_app, auth_headers, tmp_path, monkeypatch):
    def put(self, *args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(LocalFileStorage, "put", put)
    with pytest.raises(KeyError):
        post_upload(make_app(), make_wheel(tmp_path, "buggy", "1.0"), auth_headers)
