"""Keys collected from a transaction's journal entries and deletes, purged after it commits."""

from __future__ import annotations

import json

import pytest
import redis as redis_lib
import webtest

from tests.support.artifacts import form_fields_for, make_wheel
from tests.support.celery_worker import celery_app_for
from tests.support.factories import create_project
from warehouse import tasks
from warehouse.config import configure, wsgi_app
from warehouse.packaging.management import ProjectManagement
from warehouse.packaging.models import Project
from warehouse.packaging.services import DatabaseProjectService


@pytest.fixture
def cdn_settings(settings, recorder):
    return settings.replace(
        cdn_backend="fastly",
        fastly_api_url=recorder.url,
        fastly_service_id="SVC",
        fastly_api_key="secret",
        cdn_repurge_seconds=0,
    )


@pytest.fixture
def app(cdn_settings, clean_database, redis_client):
    config = configure(cdn_settings, **{"db.engine": clean_database, "redis.client": redis_client})
    app = webtest.TestApp(wsgi_app(config))
    # Tasks run in the process, as soon as they are sent.
    with celery_app_for(cdn_settings, task_always_eager=True):
        yield app
    tasks.set_context(None)


@pytest.fixture
def ctx(app):
    return app.app.registry["tasks.context"]


def upload(app, tmp_path, name: str, version: str, headers) -> None:
    path = make_wheel(tmp_path, name, version)
    fields = form_fields_for(path, name, version)
    params = [(key, value) for key, values in fields.items() for value in values]
    app.post(
        "/legacy/",
        params=[*params, ("content", webtest.Upload(path.name, path.read_bytes()))],
        headers=headers,
    )


def purged(recorder) -> list[str]:
    keys = [path.removeprefix("/service/SVC/purge/") for path in recorder.paths()]
    recorder.requests.clear()
    return keys


def test_an_upload_purges_its_project_and_a_new_project_the_index(
    app, recorder, tmp_path, auth_headers
):
    upload(app, tmp_path, "purgeme", "1.0", auth_headers)
    assert purged(recorder) == ["project/purgeme", "simple-index", "simple-index-serials"]
    assert recorder.requests == []
    upload(app, tmp_path, "purgeme", "2.0", auth_headers)
    # The JSON root listing names each project's serial, so it goes stale with every upload.
    assert purged(recorder) == ["project/purgeme", "simple-index-serials"]


def test_the_page_cache_is_invalidated_before_the_purge(app, recorder, tmp_path, auth_headers):
    json_accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    upload(app, tmp_path, "fresh", "1.0", auth_headers)
    assert app.get("/simple/fresh/", headers=json_accept).json["versions"] == ["1.0"]
    upload(app, tmp_path, "fresh", "2.0", auth_headers)
    # No one called invalidate_project: the commit hook did, so the CDN refetches news.
    assert app.get("/simple/fresh/", headers=json_accept).json["versions"] == ["1.0", "2.0"]


def test_deletes_purge_the_files_they_remove(app, ctx, recorder, db_session):
    project = create_project(db_session, "doomed", ["1.0"])
    filenames = sorted(f.filename for f in project.releases[0].files)
    with ctx.session() as session:
        release = session.get(Project, project.id).releases[0]
        ProjectManagement(session, DatabaseProjectService(session)).delete_release(release, None)
    assert purged(recorder) == sorted(
        ["project/doomed", "simple-index-serials", *(f"file/{f}" for f in filenames)]
    )

    with ctx.session() as session:
        ProjectManagement(session, DatabaseProjectService(session)).delete_project(
            session.get(Project, project.id), None
        )
    assert purged(recorder) == ["project/doomed", "simple-index", "simple-index-serials"]


def test_nothing_is_purged_for_a_rolled_back_change(app, ctx, recorder):
    with pytest.raises(RuntimeError), ctx.session() as session:
        create_project(session, "never", ["1.0"], commit=False)
        raise RuntimeError
    with ctx.session():
        pass
    assert recorder.requests == []


def test_a_bare_session_purges_nothing(app, recorder, db_session):
    # Sessions the app did not make (scripts, unit tests) carry no context: no hook runs.
    create_project(db_session, "quiet", ["1.0"])
    assert recorder.requests == []


def test_a_second_purge_is_scheduled_a_little_later(
    cdn_settings, clean_database, redis_client, redis_server, db_session
):
    settings = cdn_settings.replace(cdn_repurge_seconds=7)
    config = configure(settings, **{"db.engine": clean_database, "redis.client": redis_client})
    ctx = config.registry["tasks.context"]
    broker = redis_lib.Redis.from_url(redis_server.url(1))
    broker.flushdb()
    try:
        with celery_app_for(settings), ctx.session() as session:
            create_project(session, "twice", [], commit=False)
        messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
        assert (
            sorted(m["headers"]["task"] for m in messages) == ["warehouse.cdn.tasks.purge_keys"] * 2
        )
        # One now, one with an ETA.
        assert sorted(m["headers"]["eta"] is None for m in messages) == [False, True]
    finally:
        tasks.set_context(None)
