"""PyPI's JSON API: /pypi/<name>/json and /pypi/<name>/<version>/json."""

from __future__ import annotations

import re

import pytest

from tests.support.factories import create_project, create_release, yank

INFO_KEYS = {
    "author",
    "author_email",
    "bugtrack_url",
    "classifiers",
    "description",
    "description_content_type",
    "docs_url",
    "download_url",
    "downloads",
    "dynamic",
    "home_page",
    "keywords",
    "license",
    "license_expression",
    "license_files",
    "maintainer",
    "maintainer_email",
    "name",
    "package_url",
    "platform",
    "project_url",
    "project_urls",
    "provides_extra",
    "release_url",
    "requires_dist",
    "requires_python",
    "summary",
    "version",
    "yanked",
    "yanked_reason",
}
FILE_KEYS = {
    "comment_text",
    "core-metadata",
    "digests",
    "downloads",
    "filename",
    "has_sig",
    "md5_digest",
    "packagetype",
    "python_version",
    "requires_python",
    "size",
    "upload_time",
    "upload_time_iso_8601",
    "url",
    "yanked",
    "yanked_reason",
}


@pytest.fixture
def project(db_session):
    """Web_Thing 1.0, 1.5 (full metadata), 2.0 (yanked), 3.0b1 (pre-release)."""
    project = create_project(db_session, "Web_Thing", ["1.0"])
    create_release(
        db_session,
        project,
        "1.5",
        summary="Things for the web",
        description="# Web Thing\n",
        description_content_type="text/markdown",
        author="Ada",
        author_email="ada@example.org",
        maintainer="Bob",
        maintainer_email="bob@example.org",
        license="MIT License",
        license_expression="MIT",
        license_files=["LICENSE"],
        keywords="web,things",
        home_page="https://example.org/",
        download_url="https://example.org/download",
        requires_python=">=3.9",
        platform=["any"],
        provides_extra=["cli"],
        dynamic=["Requires-Dist"],
        requires_dist=["requests>=2", "click; extra == 'cli'"],
        project_urls={"Homepage": "https://example.org/", "Source": "https://git.example.org/"},
        classifiers=["Programming Language :: Python :: 3", "License :: OSI Approved"],
    )
    yank(db_session, create_release(db_session, project, "2.0"), "security hole")
    create_release(db_session, project, "3.0b1")
    return project


def test_project_json(webapp, project):
    response = webapp.get("/pypi/web-thing/json")
    data = response.json
    assert set(data) == {"info", "last_serial", "releases", "urls", "vulnerabilities"}
    info = data["info"]
    assert set(info) == INFO_KEYS
    # The newest release that is neither yanked nor a pre-release.
    assert info["version"] == "1.5"
    assert info == {
        "author": "Ada",
        "author_email": "ada@example.org",
        "bugtrack_url": None,
        "classifiers": ["License :: OSI Approved", "Programming Language :: Python :: 3"],
        "description": "# Web Thing\n",
        "description_content_type": "text/markdown",
        "docs_url": None,
        "download_url": "https://example.org/download",
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": ["Requires-Dist"],
        "home_page": "https://example.org/",
        "keywords": "web,things",
        "license": "MIT License",
        "license_expression": "MIT",
        "license_files": ["LICENSE"],
        "maintainer": "Bob",
        "maintainer_email": "bob@example.org",
        "name": "Web_Thing",
        "package_url": "http://localhost/project/Web_Thing/",
        "platform": "any",
        "project_url": "http://localhost/project/Web_Thing/",
        "project_urls": {"Homepage": "https://example.org/", "Source": "https://git.example.org/"},
        "provides_extra": ["cli"],
        "release_url": "http://localhost/project/Web_Thing/1.5/",
        "requires_dist": ["requests>=2", "click; extra == 'cli'"],
        "requires_python": ">=3.9",
        "summary": "Things for the web",
        "version": "1.5",
        "yanked": False,
        "yanked_reason": None,
    }
    assert data["last_serial"] == project.last_serial
    assert data["vulnerabilities"] == []
    assert list(data["releases"]) == ["1.0", "1.5", "2.0", "3.0b1"]
    assert [f["filename"] for f in data["urls"]] == [
        "web_thing-1.5-py3-none-any.whl",
        "web_thing-1.5.tar.gz",
    ]
    assert data["urls"] == data["releases"]["1.5"]
    assert data["releases"]["2.0"][0]["yanked"] is True
    assert data["releases"]["2.0"][0]["yanked_reason"] == "security hole"


def test_file_entries(webapp, project):
    urls = webapp.get("/pypi/web-thing/1.5/json").json["urls"]
    stored = {f.filename: f for r in project.releases if r.version == "1.5" for f in r.files}
    for entry in urls:
        assert set(entry) == FILE_KEYS
        file = stored[entry["filename"]]
        assert entry["digests"] == {
            "md5": file.md5_digest,
            "sha256": file.sha256_digest,
            "blake2b_256": file.blake2_256_digest,
        }
        assert entry["md5_digest"] == file.md5_digest
        assert entry["url"] == f"http://localhost/packages/{file.path}"
        assert entry["size"] == file.size
        assert entry["packagetype"] == file.packagetype
        assert entry["python_version"] == file.python_version
        assert entry["requires_python"] == ">=3.9"
        assert entry["comment_text"] == "" and entry["downloads"] == -1
        assert entry["has_sig"] is False
        # PEP 658/714 metadata as the simple pages advertise it (mirrors copy it when told).
        expected_metadata = {"sha256": file.metadata_sha256} if file.metadata_sha256 else False
        assert entry["core-metadata"] == expected_metadata
        assert entry["yanked"] is False and entry["yanked_reason"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["upload_time"])
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["upload_time_iso_8601"]
        )
        assert entry["upload_time_iso_8601"].startswith(entry["upload_time"])


def test_release_json(webapp, project):
    data = webapp.get("/pypi/web-thing/2.0/json").json
    assert set(data) == {"info", "last_serial", "urls", "vulnerabilities"}
    assert data["info"]["version"] == "2.0"
    assert data["info"]["yanked"] is True
    assert data["info"]["yanked_reason"] == "security hole"
    assert data["info"]["requires_dist"] is None and data["info"]["project_urls"] is None
    assert [f["filename"] for f in data["urls"]] == [
        "web_thing-2.0-py3-none-any.whl",
        "web_thing-2.0.tar.gz",
    ]
    assert data["last_serial"] == project.last_serial


@pytest.mark.parametrize(
    "path",
    ["/pypi/web-thing/json", "/pypi/web-thing/json/", "/pypi/web-thing/1.0/json/"],
)
def test_trailing_slash_is_the_same_page(webapp, project, path):
    assert webapp.get(path).status_int == 200


def test_headers(webapp, project):
    for path in ("/pypi/web-thing/json", "/pypi/web-thing/1.0/json"):
        response = webapp.get(path)
        assert response.headers["Content-Type"] == "application/json"
        assert int(response.headers["X-PyPI-Last-Serial"]) >= project.last_serial
        assert response.headers["Cache-Control"] == "max-age=600, public"
        assert response.headers["Surrogate-Key"] == "project/web-thing json"
        assert response.headers["Surrogate-Control"] == "max-age=86400"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        webapp.get(path, headers={"If-None-Match": response.headers["ETag"]}, status=304)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/pypi/Web_Thing/json", "/pypi/web-thing/json"),
        ("/pypi/Web_Thing/json/", "/pypi/web-thing/json/"),
        ("/pypi/WEB.thing/1.5/json", "/pypi/web-thing/1.5/json"),
        ("/pypi/web-thing/1.5.0/json", "/pypi/web-thing/1.5/json"),
        ("/pypi/web-thing/3.0.0b1/json/", "/pypi/web-thing/3.0b1/json/"),
        ("/pypi/Web_Thing/1.5.0/json", "/pypi/web-thing/1.5.0/json"),
        ("/pypi/Web_Thing/json?x=1", "/pypi/web-thing/json?x=1"),
    ],
)
def test_redirects_to_the_canonical_url(webapp, project, path, location):
    response = webapp.get(path, status=301)
    assert response.headers["Location"] == f"http://localhost{location}"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "path", ["/pypi/nope/json", "/pypi/web-thing/9.9/json", "/pypi/web-thing/not a version/json"]
)
def test_not_found(webapp, project, path):
    response = webapp.get(path, status=404)
    assert response.json == {"message": "Not Found"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_project_without_releases_is_not_found(webapp, db_session):
    create_project(db_session, "empty", versions=())
    webapp.get("/pypi/empty/json", status=404)


def test_latest_falls_back_to_prereleases_then_to_yanked(webapp, db_session):
    project = create_project(db_session, "pre", ["1.0a1", "1.0b1"])
    assert webapp.get("/pypi/pre/json").json["info"]["version"] == "1.0b1"
    gone = create_project(db_session, "gone", ["1.0", "2.0"])
    for release in gone.releases:
        yank(db_session, release)
    data = webapp.get("/pypi/gone/json").json
    assert data["info"]["version"] == "2.0" and data["info"]["yanked"] is True
    assert data["info"]["yanked_reason"] is None
    assert project.normalized_name == "pre"


def test_files_url_setting_is_used(settings, clean_database, redis_client, project):
    import webtest

    from warehouse.config import configure, wsgi_app

    app = wsgi_app(
        configure(
            settings.replace(files_url="https://files.example.org"),
            **{"db.engine": clean_database, "redis.client": redis_client},
        )
    )
    urls = webtest.TestApp(app).get("/pypi/web-thing/json").json["urls"]
    assert all(u["url"].startswith("https://files.example.org/packages/") for u in urls)
