"""A mirrored project says where it comes from: the project page, the JSON API, search."""

from __future__ import annotations

import re

from tests.support.artifacts import make_sdist, make_wheel
from tests.support.factories import create_project
from warehouse.upstreams.services import add_upstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _mirror(webapp, db_session, settings, static_folder, tmp_path, name, **kwargs):
    static_folder.add(name, make_wheel(tmp_path, name, "1.0"))
    static_folder.add(name, make_sdist(tmp_path, name, "1.0"))
    add_upstream(db_session, settings, name="folder", url=static_folder.simple_url, **kwargs)
    db_session.commit()
    # The first request for its simple page mirrors it (an upstream without serials).
    assert webapp.get(f"/simple/{name}/", headers=JSON).json["_upstream"] == "folder"


def _notice(html: str) -> str:
    found = re.search(r'<div class="notice upstream-origin" role="note">(.*?)</div>', html, re.S)
    return re.sub(r"\s+", " ", found.group(1)) if found else ""


def test_project_page_and_json_api_name_the_upstream(
    webapp, db_session, settings, static_folder, tmp_path
):
    _mirror(webapp, db_session, settings, static_folder, tmp_path, "site-mirrored")
    create_project(db_session, "site-local")
    db_session.commit()

    notice = _notice(webapp.get("/project/site-mirrored/").text)
    assert "This project is mirrored from upstream" in notice
    assert '<strong class="upstream-name">folder</strong>' in notice
    link = f"{static_folder.simple_url}site-mirrored/"
    assert f'<a href="{link}" rel="nofollow noopener">{static_folder.simple_url}</a>' in notice
    # A release page of the project says it too; a local project says nothing of the kind.
    assert "mirrored from upstream" in _notice(webapp.get("/project/site-mirrored/1.0/").text)
    assert 'class="notice upstream-origin"' not in webapp.get("/project/site-local/").text

    info = webapp.get("/pypi/site-mirrored/json").json["info"]
    assert info["_upstream"] == "folder"
    assert info["_upstream_url"] == static_folder.simple_url
    local = webapp.get("/pypi/site-local/json").json["info"]
    assert "_upstream" not in local and "_upstream_url" not in local


def test_credentials_in_an_upstream_url_are_never_shown(
    webapp, db_session, settings, static_folder, tmp_path
):
    static_folder.add("site-private", make_sdist(tmp_path, "site-private", "1.0"))
    url = static_folder.simple_url.replace("http://", "http://reader:s3cret@")
    add_upstream(db_session, settings, name="folder", url=url)
    db_session.commit()
    webapp.get("/simple/site-private/", headers=JSON)
    page = webapp.get("/project/site-private/").text
    assert "s3cret" not in page and "reader" not in page
    assert static_folder.simple_url in _notice(page)
    info = webapp.get("/pypi/site-private/json").json["info"]
    assert info["_upstream_url"] == static_folder.simple_url


def test_search_results_mark_mirrored_projects(
    webapp, db_session, settings, static_folder, tmp_path
):
    _mirror(webapp, db_session, settings, static_folder, tmp_path, "searchable-mirrored")
    create_project(db_session, "searchable-local")
    db_session.commit()
    html = webapp.get("/search/", {"q": "searchable"}).text
    items = dict(
        re.findall(r'class="package-name" href="/project/([^/]+)/">.*?</a>(.*?)</li>', html, re.S)
    )
    assert set(items) == {"searchable-mirrored", "searchable-local"}
    assert "from upstream folder" in items["searchable-mirrored"]
    assert "from upstream" not in items["searchable-local"]
