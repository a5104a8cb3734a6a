"""pypistats.org's API, the JSON API's info.downloads, the statistics page and its CSV."""

from __future__ import annotations

import datetime
import re

import pytest

from tests.support.factories import create_project
from tests.unit.stats import agents
from tests.unit.stats.agents import download_line
from warehouse.stats import ingest

TODAY = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=1, microsecond=0)


def _stamp(days_ago: int) -> str:
    return (TODAY - datetime.timedelta(days=days_ago)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _day(days_ago: int) -> str:
    return (TODAY - datetime.timedelta(days=days_ago)).date().isoformat()


@pytest.fixture
def counted(db_session):
    create_project(db_session, "Sample_Project", files=("wheel",))
    lines = (
        [download_line(agents.PIP, project="sample-project", stamp=_stamp(0))] * 2
        + [download_line(agents.UV, project="sample-project", version="2.0", stamp=_stamp(3))]
        + [download_line(agents.PIP_WINDOWS_PY2, project="sample-project", stamp=_stamp(40))]
        + [download_line(agents.BANDERSNATCH, project="sample-project", stamp=_stamp(0))] * 5
    )
    ingest.count(db_session, "logs/test.log", lines)
    db_session.commit()


def test_recent(webapp, counted):
    answer = webapp.get("/api/packages/Sample.Project/recent")
    assert answer.headers["Content-Type"] == "application/json"
    assert "stats/sample-project" in answer.headers["Surrogate-Key"]
    assert answer.json == {
        "data": {"last_day": 2, "last_week": 3, "last_month": 3},
        "package": "sample-project",
        "type": "recent_downloads",
    }
    assert webapp.get("/api/packages/sample-project/recent?period=week").json["data"] == {
        "last_week": 3
    }


def test_overall_with_and_without_mirrors(webapp, counted):
    data = webapp.get("/api/packages/sample-project/overall").json
    assert data["type"] == "overall_downloads" and data["package"] == "sample-project"
    rows = {(r["category"], r["date"]): r["downloads"] for r in data["data"]}
    assert rows == {
        ("with_mirrors", _day(40)): 1,
        ("with_mirrors", _day(3)): 1,
        ("with_mirrors", _day(0)): 7,
        ("without_mirrors", _day(40)): 1,
        ("without_mirrors", _day(3)): 1,
        ("without_mirrors", _day(0)): 2,
    }
    only = webapp.get("/api/packages/sample-project/overall?mirrors=false").json["data"]
    assert {r["category"] for r in only} == {"without_mirrors"}


@pytest.mark.parametrize(
    ("path", "type_", "expected"),
    [
        ("python_major", "python_major_downloads", {("2", 40): 1, ("3", 3): 1, ("3", 0): 2}),
        ("python_major?version=2", "python_major_downloads", {("2", 40): 1}),
        ("python_minor?version=3.13", "python_minor_downloads", {("3.13", 3): 1}),
        ("system?os=Windows", "system_downloads", {("Windows", 40): 1}),
        ("installer", "installer_downloads", {("pip", 40): 1, ("pip", 0): 2, ("uv", 3): 1}),
        ("version?version=2.0", "version_downloads", {("2.0", 3): 1}),
        ("country", "country_downloads", {("DE", 40): 1, ("DE", 3): 1, ("DE", 0): 2}),
        (
            "file_type",
            "file_type_downloads",
            {("bdist_wheel", 40): 1, ("bdist_wheel", 3): 1, ("bdist_wheel", 0): 2},
        ),
    ],
)
def test_dimensions(webapp, counted, path, type_, expected):
    data = webapp.get(f"/api/packages/sample-project/{path}").json
    assert data["type"] == type_ and data["package"] == "sample-project"
    days = {_day(n): n for n in (0, 3, 40)}
    assert {(r["category"], days[r["date"]]): r["downloads"] for r in data["data"]} == expected


def test_installer_with_mirrors(webapp, counted):
    data = webapp.get("/api/packages/sample-project/installer?mirrors=true").json["data"]
    assert {"category": "bandersnatch", "date": _day(0), "downloads": 5} in data


def test_unknown_project_and_bad_parameters(webapp, counted):
    missing = webapp.get("/api/packages/nope/recent", status=404)
    assert missing.content_type == "application/json" and "nope" in missing.json["message"]
    assert webapp.get("/api/packages/sample-project/colour", status=404).json["message"]
    bad = webapp.get("/api/packages/sample-project/recent?period=year", status=400)
    assert "period" in bad.json["message"]
    assert webapp.get("/api/packages/sample-project/overall?mirrors=maybe", status=400)


def test_json_api_carries_the_real_counts(webapp, counted):
    first = webapp.get("/pypi/sample-project/json")
    assert first.json["info"]["downloads"] == {"last_day": 2, "last_month": 3, "last_week": 3}
    assert "stats/sample-project" in first.headers["Surrogate-Key"]


def test_json_api_counts_follow_new_logs(webapp, counted, db_session):
    before = webapp.get("/pypi/sample-project/json")
    ingest.count(
        db_session,
        "logs/more.log",
        [download_line(agents.PIP, project="sample-project", stamp=_stamp(0))],
    )
    db_session.commit()
    after = webapp.get("/pypi/sample-project/json")
    assert after.json["info"]["downloads"]["last_day"] == 3
    assert after.headers["ETag"] != before.headers["ETag"]


def test_stats_page_draws_charts_inline(webapp, counted):
    page = webapp.get("/project/Sample_Project/stats/")
    assert "stats/sample-project" in page.headers["Surrogate-Key"]
    html = page.text
    assert html.count("<svg") >= 7 and "<script" not in html
    assert "http://" not in re.sub(
        r'xmlns="http://www.w3.org/2000/svg"', "", html.split("<main")[-1]
    )
    assert "pip: 2" in html and "uv: 1" in html  # the installer legend over 30 days
    everything = webapp.get("/project/Sample_Project/stats/?range=all&mirrors=true").text
    assert "bandersnatch: 5" in everything and "pip: 3" in everything


def test_stats_csv(webapp, counted):
    answer = webapp.get("/project/Sample_Project/stats.csv?by=installer")
    assert answer.content_type == "text/csv"
    assert answer.text.splitlines() == [
        "date,category,downloads",
        f"{_day(40)},pip,1",
        f"{_day(3)},uv,1",
        f"{_day(0)},pip,2",
    ]
    overall = webapp.get("/project/Sample_Project/stats.csv").text.splitlines()
    assert f"{_day(0)},with_mirrors,7" in overall and f"{_day(0)},without_mirrors,2" in overall
    assert webapp.get("/project/Sample_Project/stats.csv?by=colour", status=400)


def test_project_page_shows_counts(webapp, counted):
    html = webapp.get("/project/Sample_Project/").text
    assert "Last month</dt><dd>3</dd>" in html
    assert "/project/Sample_Project/stats/" in html


def _more_counts(db_session, key: str, n: int) -> None:
    lines = [download_line(agents.PIP, project="sample-project", stamp=_stamp(0))] * n
    ingest.count(db_session, key, lines)
    db_session.commit()


def test_kept_answers_last_until_the_projects_next_counts(
    webapp, counted, db_session, app_config, settings
):
    import types

    from warehouse.db import REDIS_INFO_KEY
    from warehouse.packaging.journal import Action, record
    from warehouse.stats.tasks import forget_counted

    redis = app_config.registry["redis.client"]
    recent = "/api/packages/sample-project/recent"
    page = "/project/Sample_Project/stats/"
    assert webapp.get(recent).json["data"]["last_day"] == 2
    assert "Last day: <strong>2</strong>" in webapp.get(page).text
    assert len(redis.keys("stats:answer:*")) == 2
    # Counted without telling the origin: the kept answers are served (no query made).
    _more_counts(db_session, "logs/more-1.log", 4)
    assert webapp.get(recent).json["data"]["last_day"] == 2
    assert "Last day: <strong>2</strong>" in webapp.get(page).text
    # A reader with a session cookie gets a page drawn for them, never a kept one.
    webapp.set_cookie("session_id", "x")
    assert "Last day: <strong>6</strong>" in webapp.get(page).text
    webapp.reset()
    # After a batch commits, its projects' answers are forgotten (as the CDN's pages are).
    context = types.SimpleNamespace(redis=redis, settings=settings)
    counted_now = ingest.Outcome("logs/more-1.log", True, projects=frozenset({"sample-project"}))
    forget_counted(context, [counted_now])
    assert webapp.get(recent).json["data"]["last_day"] == 6
    assert "Last day: <strong>6</strong>" in webapp.get(page).text
    assert webapp.get(recent + "?period=day").json == {
        "data": {"last_day": 6},
        "package": "sample-project",
        "type": "recent_downloads",
    }
    # Any journal entry of the project (a removal, a rename) forgets them too.
    db_session.info[REDIS_INFO_KEY] = redis
    _more_counts(db_session, "logs/more-2.log", 1)
    assert webapp.get(recent).json["data"]["last_day"] == 6
    record(db_session, "Sample_Project", Action.REMOVE_PROJECT)
    db_session.commit()
    assert webapp.get(recent).json["data"]["last_day"] == 7
