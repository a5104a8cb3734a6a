"""Cached read pages: what changes become visible when, and that serial and content agree."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
import webtest
from pyramid.response import Response

from tests.support.factories import create_project, create_release
from warehouse.api import invalidate_project
from warehouse.config import wsgi_app
from warehouse.db import REDIS_INFO_KEY
from warehouse.packaging.models import Project

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def versions(app, name: str = "cached") -> tuple[int, list[str]]:
    """The serial and versions that /simple/<name>/ shows, after checking they agree."""
    response = app.get(f"/simple/{name}/", headers=JSON)
    serial = int(response.headers["X-PyPI-Last-Serial"])
    assert response.json["meta"]["_last-serial"] == serial
    return serial, response.json["versions"]


def index_names(app) -> tuple[int, list[str]]:
    response = app.get("/simple/", headers=JSON)
    serial = int(response.headers["X-PyPI-Last-Serial"])
    assert response.json["meta"]["_last-serial"] == serial
    return serial, [p["name"] for p in response.json["projects"]]


@pytest.fixture
def project(db_session):
    return create_project(db_session, "cached", ["1.0"])


def test_a_change_shows_once_invalidated_and_never_half(webapp, db_session, redis_client, project):
    before = versions(webapp)
    index_before = index_names(webapp)
    assert before == (project.last_serial, ["1.0"])

    create_release(db_session, project, "2.0")
    create_project(db_session, "newcomer")
    # Not invalidated: the old page, with the old serial.
    assert versions(webapp) == before
    # The /simple/ listing is read from its chunks, which commit with the change
    # (warehouse.api.root_listing): current at once, with the serial it is current at.
    serial, names = index_names(webapp)
    assert names == ["cached", "newcomer"] and serial > index_before[0]

    invalidate_project(redis_client, "cached")
    assert versions(webapp) == (project.last_serial, ["1.0", "2.0"])
    assert project.last_serial > before[0]
    assert index_names(webapp) == (serial, names)


def test_a_representation_first_asked_for_later_is_rendered_at_the_current_serial(
    webapp, db_session, project
):
    """The HTML was never rendered at the old serial: it is rendered now, with the new one."""
    versions(webapp)
    create_release(db_session, project, "2.0")
    response = webapp.get("/simple/cached/")
    assert response.headers["X-PyPI-Last-Serial"] == str(project.last_serial)
    assert "cached-2.0.tar.gz" in response.text


def test_invalidation_takes_any_spelling_of_the_name(webapp, db_session, redis_client, project):
    versions(webapp)
    create_release(db_session, project, "2.0")
    invalidate_project(redis_client, "Cached")
    assert versions(webapp)[1] == ["1.0", "2.0"]


def test_a_journal_entry_invalidates_when_it_commits(webapp, db_session, redis_client, project):
    # Sessions of the app, the CLI and the workers carry their Redis client; so does this one.
    db_session.info[REDIS_INFO_KEY] = redis_client
    before = versions(webapp)
    create_release(db_session, project, "2.0", commit=False)
    assert versions(webapp) == before
    db_session.commit()
    assert versions(webapp) == (project.last_serial, ["1.0", "2.0"])


def test_a_rolled_back_change_leaves_the_page_alone(webapp, db_session, redis_client, project):
    db_session.info[REDIS_INFO_KEY] = redis_client
    before = versions(webapp)
    create_release(db_session, project, "2.0", commit=False)
    db_session.rollback()
    assert versions(webapp) == before


def test_a_change_made_in_a_view_shows_when_pyramid_tm_commits(app_config, project):
    """What the upload view does: change rows and journal them; pyramid_tm commits."""

    def add_release(request):
        found = request.db.scalar(sa.select(Project).where(Project.name == "cached"))
        create_release(request.db, found, request.matchdict["version"], commit=False)
        return Response("ok")

    app_config.add_route("test.add_release", "/_test/add/{version}")
    app_config.add_view(
        add_release, route_name="test.add_release", request_method="POST", require_csrf=False
    )
    app = webtest.TestApp(wsgi_app(app_config))
    serial, seen = versions(app)
    assert seen == ["1.0"]
    app.post("/_test/add/2.0")
    new_serial, seen = versions(app)
    assert seen == ["1.0", "2.0"] and new_serial > serial
    assert "cached" in index_names(app)[1]


def test_pages_survive_a_flushed_redis(webapp, db_session, redis_client, project):
    before = versions(webapp)
    redis_client.flushall()
    assert versions(webapp) == before
    create_release(db_session, project, "2.0")
    invalidate_project(redis_client, "cached")
    redis_client.flushall()
    assert versions(webapp)[1] == ["1.0", "2.0"]


def test_json_api_pages_are_invalidated_too(webapp, db_session, redis_client, project):
    assert webapp.get("/pypi/cached/json").json["info"]["version"] == "1.0"
    create_release(db_session, project, "2.0")
    stale = webapp.get("/pypi/cached/json")
    assert stale.json["info"]["version"] == "1.0"
    assert stale.json["last_serial"] == int(stale.headers["X-PyPI-Last-Serial"])
    invalidate_project(redis_client, "cached")
    fresh = webapp.get("/pypi/cached/json")
    assert fresh.json["info"]["version"] == "2.0"
    assert fresh.json["last_serial"] == project.last_serial


def test_concurrent_readers_see_serial_and_content_agree(app_config, db_session, redis_client):
    """Readers race a writer; every page must be exactly the data at the serial it names."""
    project = create_project(db_session, "busy", ["1"], files=("sdist",))
    app = wsgi_app(app_config)
    expected = {project.last_serial: 1}  # serial -> number of releases (and of files)
    seen: list[tuple[int, int, int]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read(fmt_headers):
        client = webtest.TestApp(app)
        try:
            while not stop.is_set():
                response = client.get("/simple/busy/", headers=fmt_headers)
                serial = int(response.headers["X-PyPI-Last-Serial"])
                if fmt_headers:
                    data = response.json
                    assert data["meta"]["_last-serial"] == serial
                    seen.append((serial, len(data["versions"]), len(data["files"])))
                else:
                    count = response.text.count("</a>")
                    seen.append((serial, count, count))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    readers = [threading.Thread(target=read, args=(h,)) for h in (JSON, JSON, {})]
    for thread in readers:
        thread.start()
    try:
        for number in range(2, 25):
            create_release(db_session, project, str(number), files=("sdist",))
            expected[project.last_serial] = number
            if number % 3:  # some changes are never invalidated: still consistent
                invalidate_project(redis_client, "busy")
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert not failures, failures
    assert seen
    for serial, release_count, file_count in seen:
        assert expected[serial] == release_count == file_count
    invalidate_project(redis_client, "busy")
    assert versions(webtest.TestApp(app), "busy")[0] == project.last_serial
