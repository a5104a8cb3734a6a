"""The WSGI fast path in front of the router answers the simple API exactly as the router does."""

import webtest

from tests.support.factories import create_project
from warehouse.api.fastpath import SimpleFastPath
from warehouse.web.headers import SECURITY_HEADERS


def test_fast_path_and_router_agree(app_config, db_session):
    create_project(db_session, "Fast_Path", versions=["1.0"])
    router = app_config.make_wsgi_app()
    fast = webtest.TestApp(SimpleFastPath(router))
    plain = webtest.TestApp(router)
    for path, accept in [
        ("/simple/", "text/html"),
        ("/simple/", "application/vnd.pypi.simple.v1+json"),
        ("/simple/fast-path/", "text/html"),
        ("/simple/fast-path/", "application/vnd.pypi.simple.v1+json"),
    ]:
        a = fast.get(path, headers={"Accept": accept})
        b = plain.get(path, headers={"Accept": accept})
        assert a.body == b.body
        for header in ("Content-Type", "X-PyPI-Last-Serial", "ETag", "Surrogate-Key", "Vary"):
            assert a.headers[header] == b.headers[header]
        for header, value in SECURITY_HEADERS.items():
            assert a.headers[header] == value


def test_fast_path_redirects_and_hands_other_paths_to_the_router(app_config, db_session):
    create_project(db_session, "Fast_Path", versions=["1.0"])
    fast = webtest.TestApp(SimpleFastPath(app_config.make_wsgi_app()))
    assert (
        fast.get("/simple/Fast_Path/", status=301)
        .headers["Location"]
        .endswith("/simple/fast-path/")
    )
    assert fast.get("/simple/nope/", status=404).status_int == 404
    assert fast.get("/_health/").json == {"status": "ok"}
    assert fast.post("/simple/fast-path/", status="*").status_int != 200


def test_fast_path_serves_downloads_as_the_router_does(app_config, tmp_path):
    router = app_config.make_wsgi_app()
    source = tmp_path / "blob"
    source.write_bytes(b"0123456789" * 100)
    key = "ab/cd/" + "e" * 60 + "/fast_path-1.0-py3-none-any.whl"
    router.registry["storage.instance"].put(key, source, content_type="application/zip")
    fast = webtest.TestApp(SimpleFastPath(router))
    plain = webtest.TestApp(router)
    for headers, status in [
        ({}, 200),
        ({"Range": "bytes=10-19"}, 206),
        ({"Range": "bytes=5000-"}, 416),
    ]:
        a = fast.get(f"/packages/{key}", headers=headers, status=status)
        b = plain.get(f"/packages/{key}", headers=headers, status=status)
        assert a.body == b.body
        for header in ("Content-Type", "Content-Length", "ETag", "Surrogate-Key", "Content-Range"):
            assert a.headers.get(header) == b.headers.get(header)
        assert a.headers["X-Content-Type-Options"] == SECURITY_HEADERS["X-Content-Type-Options"]
    etag = fast.get(f"/packages/{key}").headers["ETag"]
    assert fast.get(f"/packages/{key}", headers={"If-None-Match": etag}, status=304).body == b""
    assert fast.head(f"/packages/{key}").headers["Content-Length"] == "1000"
    assert fast.get("/packages/ab/cd/missing.whl", status=404).status_int == 404
