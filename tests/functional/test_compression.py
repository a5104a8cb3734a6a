"""gzip negotiated per request for text answers: simple pages (also from the ASGI front's
memory), the JSON API, XML-RPC and the website; files and plain clients untouched."""

from __future__ import annotations

import gzip
import xmlrpc.client

import pytest
from webob import Request

from tests.functional.test_asgi import call, refuse_the_views, warm
from tests.support.factories import create_project
from warehouse.asgi import ASGIFront
from warehouse.compression import accepts_gzip
from warehouse.config import wsgi_app

GZIP = {"Accept-Encoding": "gzip, deflate"}
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def wsgi(app_config):
    return wsgi_app(app_config)


class Site:
    """Requests straight to the WSGI app: webtest would undo the gzip before the test saw it."""

    def __init__(self, app):
        self.app = app

    def get(self, path, headers=None, expect_errors=True):
        return Request.blank(path, headers=headers or {}).get_response(self.app)

    def post(self, path, body, headers):
        request = Request.blank(path, method="POST", headers=headers)
        request.body = body.encode() if isinstance(body, str) else body
        return request.get_response(self.app)


@pytest.fixture
def site(wsgi):
    return Site(wsgi)


@pytest.fixture
def project(db_session):
    return create_project(db_session, "squeezed", versions=["1.0", "2.0", "3.0"])


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate;q=1, GZIP;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
        ("", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header, accepted):
    assert accepts_gzip(header) is accepted


@pytest.mark.parametrize("accept", [{}, JSON])
def test_simple_pages_are_gzipped_for_clients_that_accept_it(site, project, accept):
    plain = site.get("/simple/squeezed/", headers=accept)
    zipped = site.get("/simple/squeezed/", headers={**accept, **GZIP})

    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert len(zipped.body) < len(plain.body)
    for answer in (plain, zipped):
        assert "Accept-Encoding" in answer.headers["Vary"] and "Accept" in answer.headers["Vary"]
    # Two forms, two ETags; each revalidates to a 304 of its own form.
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    for answer, headers in ((plain, accept), (zipped, {**accept, **GZIP})):
        again = site.get(
            "/simple/squeezed/", headers={**headers, "If-None-Match": answer.headers["ETag"]}
        )
        assert again.status_int == 304
        assert again.headers["ETag"] == answer.headers["ETag"]


def test_json_api_xmlrpc_and_pages_are_gzipped_and_files_are_not(site, project, db_session):
    document = site.get("/pypi/squeezed/json", headers=GZIP)
    assert document.headers["Content-Encoding"] == "gzip"
    assert b'"name": "squeezed"' in gzip.decompress(document.body) or b'"name":"squeezed"' in (
        gzip.decompress(document.body)
    )

    call_body = xmlrpc.client.dumps(("squeezed",), "package_releases")
    answer = site.post("/pypi", call_body, headers={"Content-Type": "text/xml", **GZIP})
    assert answer.headers["Content-Encoding"] == "gzip"
    assert xmlrpc.client.loads(gzip.decompress(answer.body))[0][0] == ["3.0"]

    page = site.get("/project/squeezed/", headers=GZIP)
    assert page.headers["Content-Encoding"] == "gzip"
    assert b"squeezed" in gzip.decompress(page.body)

    missing = site.get("/packages/ab/cd/nothing.whl", headers=GZIP, expect_errors=True)
    assert "Content-Encoding" not in missing.headers


def test_the_asgi_front_remembers_each_form_apart(wsgi, project, monkeypatch):
    front = ASGIFront(wsgi, threads=2)
    try:
        warm(wsgi)
        for _ in range(2):  # the first of each is answered on a thread, the second remembered
            plain = call(front, "GET", "/simple/squeezed/")
            zipped = call(front, "GET", "/simple/squeezed/", list(GZIP.items()))
        refuse_the_views(front, monkeypatch)
        assert call(front, "GET", "/simple/squeezed/").body == plain.body
        again = call(front, "GET", "/simple/squeezed/", list(GZIP.items()))
        assert again.headers["content-encoding"] == "gzip" and again.body == zipped.body
        assert gzip.decompress(zipped.body) == plain.body
    finally:
        if front._pool is not None:
            front._pool.shutdown()
