"""The download statistics page in a real browser (Debian's chromium via playwright).

Downloads of an uploaded project are counted from a CDN log (``warehouse stats ingest``);
its statistics page draws every chart from our host alone, switches period, and its CSV
link downloads the series.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlsplit

import pytest

from tests.interop.builder import build_project
from tests.interop.clients import Clients
from tests.unit.stats import agents
from tests.unit.stats.agents import download_line

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("interop")]

NAME = "charted-lib"


def _stamp(days_ago: int) -> str:
    moment = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=5)
    return (moment - datetime.timedelta(days=days_ago)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def test_stats_page_charts_period_and_csv(browser_site, browser, tmp_path):
    site = browser_site.url
    clients = Clients.for_server(browser_site, tmp_path)
    browser_site.create_user("charter")
    built = build_project(tmp_path, NAME, "0.1", sdist=False)
    clients.twine_upload(browser_site.create_token("charter"), built.files)
    log = tmp_path / "cdn-stats-page.log"
    log.write_text(
        download_line(agents.PIP, project=NAME, version="0.1", stamp=_stamp(0)) * 3
        + download_line(agents.UV, project=NAME, version="0.1", stamp=_stamp(2))
        # Outside the last 30 days: only the longer periods show it.
        + download_line(agents.PIP, project=NAME, version="0.1", stamp=_stamp(100)) * 2
    )
    assert "1 file(s) counted (6 lines" in browser_site.cli("stats", "ingest", str(log))

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(site + f"/project/{NAME}/stats/")
    assert "Download statistics of" in page.locator("h1").inner_text()
    charts = page.locator("svg.stats-chart")
    assert charts.count() == 7  # daily downloads, then one per dimension
    # Drawn: the daily chart has a visible area, its legend the 30 days' count.
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert charts.first.locator("polygon").count() >= 1
    legends = page.locator("ul.stats-legend")
    assert "without mirrors: 4" in legends.first.inner_text()
    assert "pip: 3" in page.locator("section", has_text="By installer").inner_text()

    # The period switch: 180 days takes in the download of 100 days ago.
    page.get_by_role("navigation", name="Period").get_by_role("link", name="180 days").click()
    page.wait_for_url(re.compile(r"range=180"))
    assert page.get_by_role("navigation", name="Period").locator("strong").first.inner_text() == (
        "180 days"
    )
    assert "without mirrors: 6" in page.locator("ul.stats-legend").first.inner_text()
    first_day = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=179)
    assert first_day.isoformat() in page.locator("svg.stats-chart").first.inner_html()

    # The CSV link downloads the series.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="installer", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == f"{NAME}-installer.csv"
    lines = open(download.path()).read().splitlines()
    assert lines[0] == "date,category,downloads"
    today = datetime.datetime.now(datetime.UTC).date()
    assert f"{today.isoformat()},pip,3" in lines
    assert f"{(today - datetime.timedelta(days=2)).isoformat()},uv,1" in lines

    # Every request (pages, styles, the CSV) went to our own host.
    origin = urlsplit(site).netloc
    assert requested and {urlsplit(url).netloc for url in requested} == {origin}, requested
