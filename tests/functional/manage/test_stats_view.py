"""A maintainer's view of their projects' downloads."""

from __future__ import annotations

import datetime

from tests.functional.manage.conftest import log_in, text_of
from tests.unit.stats import agents
from tests.unit.stats.agents import download_line
from warehouse.stats import ingest


def test_my_projects_downloads(site, project, db_session):
    site.get("/manage/stats/", status=303)  # logged out: to the login page
    stamp = datetime.datetime.now(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    lines = [download_line(agents.PIP, project="demo", stamp=stamp)] * 3
    lines += [download_line(agents.PIP, project="someone-else", stamp=stamp)] * 5
    ingest.count(db_session, "logs/mine.log", lines)
    db_session.commit()
    log_in(site, "alice")
    page = text_of(site.get("/manage/stats/"))
    assert "demo 3 3 3" in page and "All 3 3 3" in page and "someone-else" not in page
    site.reset()
    log_in(site, "bob")
    assert "You have no projects yet" in text_of(site.get("/manage/stats/"))
