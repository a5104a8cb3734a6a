"""The simple API (PEP 503 / 691 / 700) over the whole application."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from pypi_simple import IndexPage, ProjectPage

from tests.support.factories import create_file, create_project, create_release, yank
from warehouse.config import configure, wsgi_app

V1_JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
HTML = "text/html; charset=utf-8"
PIP_ACCEPT = f"{V1_JSON}, {V1_HTML}; q=0.1, text/html; q=0.01"
UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def project(db_session):
    """Foo_Bar: 1.0 (sdist + wheel), 2.0 (yanked, with a reason), 10.0rc1, 0.5 without files."""
    project = create_project(db_session, "Foo_Bar", ["2.0", "1.0"], requires_python=">=3.8")
    create_release(db_session, project, "10.0rc1", requires_python="<4,>=3.9")
    create_release(db_session, project, "0.5", files=())
    yank(db_session, _release(project, "2.0"), 'Broken <build> & "bad"')
    return project


def accept(value: str) -> dict[str, str]:
    return {"Accept": value}


def _release(project, version: str):
    return next(r for r in project.releases if r.version == version)


# Negotiation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "content_type"),
    [
        (None, HTML),
        ("*/*", HTML),
        ("text/html", HTML),
        (PIP_ACCEPT, V1_JSON),
        (V1_HTML, V1_HTML),
        (V1_JSON, V1_JSON),
        ("application/vnd.pypi.simple.latest+json", V1_JSON),
        ("application/vnd.pypi.simple.latest+html", V1_HTML),
        (f"text/html;q=0.5, {V1_JSON};q=0.9", V1_JSON),
        (f"{V1_JSON};q=0.1, {V1_HTML}", V1_HTML),
        (f"{V1_JSON};q=0, */*;q=0.1", HTML),
        ("text/*", HTML),
        ("application/xml, */*;q=0.01", HTML),
    ],
)
def test_content_negotiation(webapp, project, header, content_type):
    headers = accept(header) if header else {}
    for path in ("/simple/", "/simple/foo-bar/"):
        response = webapp.get(path, headers=headers)
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Vary"] == "Accept, Accept-Encoding"
        if content_type == V1_JSON:
            assert response.json["meta"]["api-version"] == "1.3"
        else:
            assert response.text.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "header", ["application/xml", "application/json", f"{V1_JSON};q=0", "image/*"]
)
def test_nothing_acceptable_is_406(webapp, project, header):
    for path in ("/simple/", "/simple/foo-bar/"):
        response = webapp.get(path, headers=accept(header), status=406)
        assert response.headers["Vary"] == "Accept, Accept-Encoding"
        assert V1_JSON in response.text and "text/html" in response.text


def test_format_query_parameter_overrides_accept(webapp, project):
    response = webapp.get(f"/simple/foo-bar/?format={V1_JSON}", headers=accept("text/html"))
    assert response.headers["Content-Type"] == V1_JSON
    assert response.json["name"] == "foo-bar"
    response = webapp.get(f"/simple/?format={V1_HTML}", headers=accept(V1_JSON))
    assert response.headers["Content-Type"] == V1_HTML
    webapp.get("/simple/foo-bar/?format=json", status=406)


@pytest.mark.parametrize(
    "path",
    [
        "/simple/?format=%80",
        "/simple/foo-bar/?%80",
        "/packages/ab/cd/foo-bar-1.0.tar.gz?x=%C3",
        # Pages behind the router read their parameters with the same WebOb.
        "/search/?q=%80",
        "/api/packages/foo-bar/recent?period=%FF",
        "/project/foo-bar/stats/?range=%80",
        "/account/login/?next=%C3%28",
    ],
)
def test_a_query_string_that_is_not_utf8_is_400(webapp, project, path):
    response = webapp.get(path, status=400)
    assert "The query string is not valid UTF-8." in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_query_string_in_utf8_is_read(webapp, project):
    response = webapp.get("/search/?q=%C3%A9t%C3%A9")
    assert response.status_int == 200


# Redirects and 404s -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/simple/Foo_Bar/", "/simple/foo-bar/"),
        ("/simple/FOO.bar/", "/simple/foo-bar/"),
        ("/simple/foo-bar", "/simple/foo-bar/"),
        ("/simple/Foo_Bar", "/simple/foo-bar/"),
        ("/simple", "/simple/"),
        (f"/simple/Foo_Bar/?format={V1_JSON}", f"/simple/foo-bar/?format={V1_JSON}"),
        ("/simple/foo-bar?x=1", "/simple/foo-bar/?x=1"),
    ],
)
def test_redirects_to_the_normalized_name_with_a_slash(webapp, project, path, location):
    response = webapp.get(path, status=301)
    assert response.headers["Location"] == f"http://localhost{location}"
    assert response.headers["Vary"] == "Accept"  # a redirect has no body to compress


def test_unknown_project_is_404_in_the_negotiated_format(webapp, project):
    response = webapp.get("/simple/nope/", status=404)
    assert response.headers["Content-Type"] == HTML
    assert "Not Found" in response.text
    response = webapp.get("/simple/nope/", headers=accept(V1_JSON), status=404)
    assert response.headers["Content-Type"] == V1_JSON
    assert response.json == {"message": "Not Found"}
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert response.headers["Surrogate-Key"] == "simple project/nope"
    # Clients ask again (the project may appear any moment); a CDN keeps it until purged.
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Surrogate-Control"] == "max-age=86400"


def test_other_paths_and_methods_are_left_to_the_application(webapp, project):
    webapp.get("/simple/foo-bar/extra", status=404)
    webapp.post("/simple/foo-bar/", status=404)
    assert webapp.head("/simple/foo-bar/").body == b""


# HTML -------------------------------------------------------------------------------------


def test_html_index_lists_every_project(webapp, db_session, project):
    create_project(db_session, "zope.Thing")
    response = webapp.get("/simple/")
    assert '<a href="/simple/foo-bar/">Foo_Bar</a>' in response.text
    assert '<a href="/simple/zope-thing/">zope.Thing</a>' in response.text
    assert '<meta name="pypi:repository-version" content="1.3">' in response.text
    page = IndexPage.from_html(response.text)
    assert page.projects == ["Foo_Bar", "zope.Thing"]
    assert page.repository_version == "1.3"


def test_html_project_page(webapp, project):
    response = webapp.get("/simple/foo-bar/")
    text = response.text
    assert '<meta name="pypi:repository-version" content="1.3">' in text
    # Ordered by release, then filename; the release without files adds nothing.
    filenames = re.findall(r">([^<>]+\.(?:whl|tar\.gz))</a>", text)
    assert filenames == [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
        "foo_bar-2.0-py3-none-any.whl",
        "foo_bar-2.0.tar.gz",
        "foo_bar-10.0rc1-py3-none-any.whl",
        "foo_bar-10.0rc1.tar.gz",
    ]
    assert 'data-requires-python="&gt;=3.8"' in text
    assert 'data-requires-python="&lt;4,&gt;=3.9"' in text
    assert 'data-yanked="Broken &lt;build&gt; &amp; &quot;bad&quot;"' in text

    page = ProjectPage.from_html("foo-bar", text, base_url="http://localhost/simple/foo-bar/")
    assert page.repository_version == "1.3"
    by_name = {p.filename: p for p in page.packages}
    wheel, sdist = by_name["foo_bar-1.0-py3-none-any.whl"], by_name["foo_bar-1.0.tar.gz"]
    assert wheel.requires_python == ">=3.8"
    assert wheel.has_metadata is True and set(wheel.metadata_digests) == {"sha256"}
    assert sdist.has_metadata is None
    assert "data-dist-info-metadata" not in _anchor(text, "foo_bar-1.0.tar.gz")
    assert "data-core-metadata" not in _anchor(text, "foo_bar-1.0.tar.gz")
    assert not wheel.is_yanked and "data-yanked" not in _anchor(text, wheel.filename)
    yanked = by_name["foo_bar-2.0.tar.gz"]
    assert yanked.is_yanked and yanked.yanked_reason == 'Broken <build> & "bad"'
    assert set(wheel.digests) == {"sha256"}
    assert wheel.url.startswith("http://localhost/packages/")


def test_html_marks_a_yanked_release_without_reason_with_an_empty_attribute(
    webapp, db_session, project
):
    yank(db_session, _release(project, "1.0"))
    text = webapp.get("/simple/foo-bar/").text
    assert 'data-yanked=""' in _anchor(text, "foo_bar-1.0.tar.gz")
    page = ProjectPage.from_html("foo-bar", text)
    sdist = next(p for p in page.packages if p.filename == "foo_bar-1.0.tar.gz")
    assert sdist.is_yanked and not sdist.yanked_reason


def test_file_links_point_at_the_download_route_or_files_url(
    settings, clean_database, redis_client, db_session, project
):
    import webtest

    app = wsgi_app(
        configure(
            settings.replace(files_url="https://files.example.org/"),
            **{"db.engine": clean_database, "redis.client": redis_client},
        )
    )
    file = _release(project, "1.0").files[0]
    text = webtest.TestApp(app).get("/simple/foo-bar/").text
    assert (
        f'href="https://files.example.org/packages/{file.path}#sha256={file.sha256_digest}"' in text
    )
    data = webtest.TestApp(app).get("/simple/foo-bar/", headers=accept(V1_JSON)).json
    assert data["files"][0]["url"].startswith("https://files.example.org/packages/")


def test_escapes_what_it_does_not_control(webapp, db_session):
    project = create_project(db_session, "esc", files=())
    release = project.releases[0]
    create_file(db_session, release, 'esc-1.0"><script>.tar.gz', requires_python='>=3"<')
    text = webapp.get("/simple/esc/").text
    assert "<script>" not in text
    assert 'data-requires-python="&gt;=3&quot;&lt;"' in text
    page = ProjectPage.from_html("esc", text)
    assert page.packages[0].filename == 'esc-1.0"><script>.tar.gz'
    assert page.packages[0].requires_python == '>=3"<'


def _anchor(html: str, filename: str) -> str:
    return next(line for line in html.splitlines() if f">{filename}</a>" in line)


# JSON -------------------------------------------------------------------------------------


def test_json_index(webapp, db_session, project):
    create_project(db_session, "zope.Thing")
    response = webapp.get("/simple/", headers=accept(V1_JSON))
    data = response.json
    serial = int(response.headers["X-PyPI-Last-Serial"])
    assert data["meta"] == {"api-version": "1.3", "_last-serial": serial}
    db_session.expire_all()
    assert data["projects"] == [
        {"name": "Foo_Bar", "_last-serial": project.last_serial},
        {"name": "zope.Thing", "_last-serial": serial},
    ]
    assert IndexPage.from_json_data(data).projects == ["Foo_Bar", "zope.Thing"]


def test_json_project_page(webapp, project):
    response = webapp.get("/simple/foo-bar/", headers=accept(V1_JSON))
    data = response.json
    assert data["meta"] == {"api-version": "1.3", "_last-serial": project.last_serial}
    assert data["name"] == "foo-bar"
    assert data["versions"] == ["0.5", "1.0", "2.0", "10.0rc1"]
    files = {f["filename"]: f for f in data["files"]}
    assert [f["filename"] for f in data["files"]] == [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
        "foo_bar-2.0-py3-none-any.whl",
        "foo_bar-2.0.tar.gz",
        "foo_bar-10.0rc1-py3-none-any.whl",
        "foo_bar-10.0rc1.tar.gz",
    ]
    wheel = files["foo_bar-1.0-py3-none-any.whl"]
    stored = next(f for f in _release(project, "1.0").files if f.filename == wheel["filename"])
    assert wheel == {
        "filename": stored.filename,
        "url": f"http://localhost/packages/{stored.path}",
        "hashes": {"sha256": stored.sha256_digest},
        "requires-python": ">=3.8",
        "core-metadata": {"sha256": stored.metadata_sha256},
        "dist-info-metadata": {"sha256": stored.metadata_sha256},
        "yanked": False,
        "size": stored.size,
        "upload-time": wheel["upload-time"],
    }
    assert UPLOAD_TIME.match(wheel["upload-time"])
    sdist = files["foo_bar-1.0.tar.gz"]
    assert sdist["core-metadata"] is False and sdist["dist-info-metadata"] is False
    assert files["foo_bar-2.0.tar.gz"]["yanked"] == 'Broken <build> & "bad"'

    page = ProjectPage.from_json_data(data, base_url="http://localhost/simple/foo-bar/")
    assert page.versions == ["0.5", "1.0", "2.0", "10.0rc1"]
    assert page.last_serial == str(project.last_serial)
    package = next(p for p in page.packages if p.filename == "foo_bar-1.0-py3-none-any.whl")
    assert package.has_metadata and package.size == stored.size
    assert package.upload_time is not None


def test_json_yanked_without_reason_is_true(webapp, db_session, project):
    yank(db_session, _release(project, "1.0"))
    files = webapp.get("/simple/foo-bar/", headers=accept(V1_JSON)).json["files"]
    assert next(f for f in files if f["filename"] == "foo_bar-1.0.tar.gz")["yanked"] is True


# Headers ----------------------------------------------------------------------------------


def test_project_page_headers(webapp, db_session, project):
    for headers in ({}, accept(V1_JSON)):
        response = webapp.get("/simple/foo-bar/", headers=headers)
        assert response.headers["X-PyPI-Last-Serial"] == str(project.last_serial)
        assert response.headers["Cache-Control"] == "max-age=600, public"
        assert response.headers["Surrogate-Key"] == "simple project/foo-bar"
        assert response.headers["Surrogate-Control"] == "max-age=86400"
        assert response.headers["Vary"] == "Accept, Accept-Encoding"


def test_index_headers_carry_the_global_serial(webapp, db_session, project):
    create_project(db_session, "other")
    newest = db_session.scalar(sa.text("SELECT max(id) FROM journals"))
    response = webapp.get("/simple/")
    assert response.headers["X-PyPI-Last-Serial"] == str(newest)
    assert response.headers["Surrogate-Key"] == "simple simple-index"
    assert response.headers["Cache-Control"] == "max-age=600, public"
    # The JSON form names each project's serial: every journal entry purges it.
    as_json = webapp.get("/simple/", headers={"Accept": V1_JSON})
    assert as_json.headers["Surrogate-Key"] == "simple simple-index simple-index-serials"
    assert response.headers["Surrogate-Control"] == "max-age=86400"


def test_etag_revalidation(webapp, project):
    first = webapp.get("/simple/foo-bar/")
    etag = first.headers["ETag"]
    again = webapp.get("/simple/foo-bar/", headers={"If-None-Match": etag}, status=304)
    assert again.body == b""
    assert again.headers["X-PyPI-Last-Serial"] == first.headers["X-PyPI-Last-Serial"]
    # A different representation has a different tag.
    webapp.get("/simple/foo-bar/", headers={"If-None-Match": etag, **accept(V1_JSON)}, status=200)


def test_empty_index(webapp):
    response = webapp.get("/simple/", headers=accept(V1_JSON))
    assert response.json == {"meta": {"api-version": "1.3", "_last-serial": 0}, "projects": []}
    assert response.headers["X-PyPI-Last-Serial"] == "0"
