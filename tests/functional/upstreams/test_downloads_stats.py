"""Downloads of files served through an upstream count under the upstream's name too."""

from __future__ import annotations

import datetime

from tests.support.artifacts import make_sdist, make_wheel
from tests.support.factories import create_project
from tests.unit.stats import agents
from tests.unit.stats.agents import download_line
from warehouse.stats import ingest
from warehouse.upstreams.services import add_upstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
STAMP = NOW.strftime("%a, %d %b %Y %H:%M:%S GMT")
TODAY = NOW.date().isoformat()


def _logged(response, agent: str) -> str:
    """The line the CDN logs for this answer of the file view (config/varnish/default.vcl)."""
    headers = response.headers
    return download_line(
        agent,
        project=headers["X-Stats-Project"],
        version=headers["X-Stats-Version"],
        ptype=headers["X-Stats-Package-Type"],
        stamp=STAMP,
    )


def test_downloads_through_an_upstream_count_under_its_name(
    webapp, db_session, settings, static_folder, tmp_path
):
    wheel = make_wheel(tmp_path, "through-folder", "1.0")
    static_folder.add("through-folder", wheel)
    static_folder.add("through-folder", make_sdist(tmp_path, "through-folder", "1.0"))
    add_upstream(db_session, settings, name="folder", url=static_folder.simple_url)
    create_project(db_session, "local-only", files=("wheel",))
    db_session.commit()
    page = webapp.get("/simple/through-folder/", headers=JSON).json
    urls = {f["filename"]: f["url"].removeprefix("http://localhost") for f in page["files"]}
    first = webapp.get(urls[wheel.name])  # fetched from the upstream
    again = webapp.get(urls[wheel.name])  # stored here by now
    sdist = webapp.get(next(u for n, u in urls.items() if n.endswith(".tar.gz")))
    # A local project's file (its blob is not stored by the factory: the line is as logged).
    local = download_line(agents.PIP, project="local-only", version="1.0", stamp=STAMP)
    lines = [
        _logged(first, agents.PIP),
        _logged(again, agents.PIP),
        _logged(sdist, agents.UV),
        _logged(again, agents.BANDERSNATCH),
        local,
        local,
    ]
    ingest.count(db_session, "logs/upstream-downloads.log", lines)
    db_session.commit()

    # The project's own statistics count every download, as for any project...
    overall = webapp.get("/api/packages/through-folder/overall?mirrors=true").json["data"]
    assert overall == [{"category": "with_mirrors", "date": TODAY, "downloads": 4}]
    # ...and break them down by the upstream they went through.
    by_upstream = webapp.get("/api/packages/through-folder/upstream").json
    assert by_upstream["type"] == "upstream_downloads"
    assert by_upstream["data"] == [{"category": "folder", "date": TODAY, "downloads": 3}]
    assert webapp.get("/api/packages/local-only/upstream").json["data"] == []
    csv = webapp.get("/project/through-folder/stats.csv?by=upstream").text
    assert f"{TODAY},folder,3" in csv

    # The upstream's own figures, over every project mirrored from it (local ones left out).
    assert webapp.get("/api/upstreams/folder/recent").json == {
        "data": {"last_day": 3, "last_week": 3, "last_month": 3},
        "upstream": "folder",
        "type": "recent_downloads",
    }
    overall = webapp.get("/api/upstreams/folder/overall").json["data"]
    assert overall == [
        {"category": "with_mirrors", "date": TODAY, "downloads": 4},
        {"category": "without_mirrors", "date": TODAY, "downloads": 3},
    ]
    missing = webapp.get("/api/upstreams/nowhere/overall", status=404).json
    assert missing == {"message": "No upstream named 'nowhere'."}
    assert (
        "recent or overall" in webapp.get("/api/upstreams/folder/nope", status=404).json["message"]
    )
