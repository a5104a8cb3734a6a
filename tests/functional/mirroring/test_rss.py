"""RSS 2.0 feeds, parsed back with xml.etree."""

from __future__ import annotations

import datetime
import email.utils
import xml.etree.ElementTree as ET

import sqlalchemy as sa

from tests.support.factories import create_project, create_release, yank
from warehouse.packaging.models import Project, Release

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(response):
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert "max-age=" in response.headers["Cache-Control"]
    root = ET.fromstring(response.body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    (channel,) = root.findall("channel")
    return channel


def items(channel) -> list[dict]:
    return [{child.tag: child.text for child in item} for item in channel.findall("item")]


def age(db_session, model, minutes: int, **where) -> None:
    """Backdate rows, so the order of the feeds does not hang on clock resolution."""
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes)
    db_session.execute(sa.update(model).filter_by(**where).values(created=moment))
    db_session.commit()


def test_updates_lists_the_latest_40_releases_newest_first(webapp, db_session):
    project = create_project(db_session, "Many", versions=[], files=())
    for n in range(45):
        create_release(db_session, project, f"1.{n}", files=(), summary=f"release {n}")
        age(db_session, Release, 100 - n, version=f"1.{n}")
    channel = parse(webapp.get("/rss/updates.xml"))
    listed = items(channel)
    assert len(listed) == 40
    assert [i["title"] for i in listed[:2]] == ["Many 1.44", "Many 1.43"]
    first = listed[0]
    assert first["link"] == "http://localhost/project/Many/1.44/"
    assert first["guid"] == first["link"]
    assert first["description"] == "release 44"
    published = email.utils.parsedate_to_datetime(first["pubDate"])
    assert published.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.UTC) - published).total_seconds() - 56 * 60) < 120
    assert channel.find(f"{ATOM}link").get("href") == "http://localhost/rss/updates.xml"
    assert channel.findtext("title").endswith("recent updates")


def test_updates_leave_out_yanked_releases(webapp, db_session):
    create_project(db_session, "alpha", versions=["1.0", "2.0"], files=())
    yank(db_session, db_session.scalar(sa.select(Release).filter_by(version="2.0")))
    titles = [i["title"] for i in items(parse(webapp.get("/rss/updates.xml")))]
    assert titles == ["alpha 1.0"]


def test_everything_is_escaped(webapp, db_session):
    create_project(
        db_session,
        "esc",
        versions=["1.0"],
        files=(),
        summary="<script>alert('&')</script>\x07 ]]> \u2603",
        author_email="a@example.com",
    )
    body = webapp.get("/rss/updates.xml").body
    assert b"<script>" not in body
    (item,) = items(parse(webapp.get("/rss/updates.xml")))
    assert item["description"] == "<script>alert('&')</script>\ufffd ]]> \u2603"
    assert item["author"] == "a@example.com"


def test_packages_lists_the_newest_projects(webapp, db_session):
    for n in range(42):
        create_project(db_session, f"proj{n}", versions=["1.0"], files=(), summary=f"summary {n}")
        age(db_session, Project, 100 - n, name=f"proj{n}")
    create_project(db_session, "bare", versions=[], files=())
    listed = items(parse(webapp.get("/rss/packages.xml")))
    assert len(listed) == 40
    assert listed[0]["title"] == "bare added to localhost"
    assert listed[0]["description"] is None  # no release, so no summary
    assert listed[1]["title"] == "proj41 added to localhost"
    assert listed[1]["link"] == "http://localhost/project/proj41/"
    assert listed[1]["description"] == "summary 41"


def test_project_releases(webapp, db_session):
    project = create_project(db_session, "Demo_Pkg", versions=["1.0", "2.0"], files=())
    age(db_session, Release, 10, version="1.0")
    create_project(db_session, "other", versions=["9.0"], files=())
    channel = parse(webapp.get("/rss/project/demo-pkg/releases.xml"))
    assert [i["title"] for i in items(channel)] == ["Demo_Pkg 2.0", "Demo_Pkg 1.0"]
    assert channel.findtext("link") == "http://localhost/project/Demo_Pkg/"
    assert "Demo_Pkg" in channel.findtext("title")
    assert project.name == "Demo_Pkg"


def test_project_releases_redirects_to_the_normalized_name(webapp, db_session):
    create_project(db_session, "Demo_Pkg", versions=["1.0"], files=())
    response = webapp.get("/rss/project/Demo_Pkg/releases.xml", status=301)
    assert response.headers["Location"] == "http://localhost/rss/project/demo-pkg/releases.xml"


def test_unknown_project_is_404(webapp):
    webapp.get("/rss/project/nope/releases.xml", status=404)


def test_empty_feeds_are_valid(webapp):
    for path in ("/rss/updates.xml", "/rss/packages.xml"):
        assert items(parse(webapp.get(path))) == []
