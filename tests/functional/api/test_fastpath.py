"""The one way into the read path: the application a Configurator makes (``wsgi_app``) answers
installers' reads in front of the router, with the site's security headers; the router itself
has no second way to them."""

import webtest

from tests.support.factories import create_project
from warehouse.config import wsgi_app
from warehouse.headers import SECURITY_HEADERS


def test_simple_pages_are_answered_in_front_of_the_router(app_config, db_session):
    create_project(db_session, "Fast_Path", versions=["1.0"])
    app = wsgi_app(app_config)
    fast = webtest.TestApp(app)
    for path, accept in [
        ("/simple/", "text/html"),
        ("/simple/", "application/vnd.pypi.simple.v1+json"),
        ("/simple/fast-path/", "text/html"),
        ("/simple/fast-path/", "application/vnd.pypi.simple.v1+json"),
    ]:
        answer = fast.get(path, headers={"Accept": accept})
        assert b"fast" in answer.body.lower() or path == "/simple/"
        for header in ("Content-Type", "X-PyPI-Last-Serial", "ETag", "Surrogate-Key", "Vary"):
            assert answer.headers[header]
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers[header] == value
    # No second way in: the router alone has no view for these URLs.
    plain = webtest.TestApp(app.router)
    assert plain.get("/simple/fast-path/", status=404).status_int == 404


def test_fast_path_redirects_and_hands_other_paths_to_the_router(app_config, db_session):
    create_project(db_session, "Fast_Path", versions=["1.0"])
    fast = webtest.TestApp(wsgi_app(app_config))
    assert (
        fast.get("/simple/Fast_Path/", status=301)
        .headers["Location"]
        .endswith("/simple/fast-path/")
    )
    assert fast.get("/simple/nope/", status=404).status_int == 404
    assert fast.get("/_health/").json == {"status": "ok"}
    assert fast.post("/simple/fast-path/", status="*").status_int != 200


def test_fast_path_serves_downloads(app_config, tmp_path):
    app = wsgi_app(app_config)
    source = tmp_path / "blob"
    source.write_bytes(b"0123456789" * 100)
    key = "ab/cd/" + "e" * 60 + "/fast_path-1.0-py3-none-any.whl"
    app.registry["storage.instance"].put(key, source, content_type="application/zip")
    fast = webtest.TestApp(app)
    for headers, status, body in [
        ({}, 200, source.read_bytes()),
        ({"Range": "bytes=10-19"}, 206, b"0123456789"),
        ({"Range": "bytes=5000-"}, 416, None),
    ]:
        answer = fast.get(f"/packages/{key}", headers=headers, status=status)
        if body is not None:
            assert answer.body == body
            assert answer.headers["Surrogate-Key"] == "file/fast_path-1.0-py3-none-any.whl"
        assert (
            answer.headers["X-Content-Type-Options"] == SECURITY_HEADERS["X-Content-Type-Options"]
        )
    assert fast.get(f"/packages/{key}").headers["Content-Type"] == "application/zip"
    etag = fast.get(f"/packages/{key}").headers["ETag"]
    assert fast.get(f"/packages/{key}", headers={"If-None-Match": etag}, status=304).body == b""
    assert fast.head(f"/packages/{key}").headers["Content-Length"] == "1000"
    assert fast.get("/packages/ab/cd/missing.whl", status=404).status_int == 404
    # No second way in: the router alone has no view for downloads.
    assert webtest.TestApp(app.router).get(f"/packages/{key}", status=404).status_int == 404
