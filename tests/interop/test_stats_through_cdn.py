"""Download statistics end to end: real pip through real Varnish, varnishncsa's log, the
count, and the pypistats API answering through the same CDN."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from tests.interop.clients import Clients
from tests.support.varnish import needs_varnish, running_varnish
from tests.support.waiting import wait_for
from tests.unit.stats.agents import BANDERSNATCH
from warehouse.stats import logs
from warehouse.storage.local import LocalFileStorage

pytestmark = needs_varnish


def _get(url: str, agent: str, method: str = "GET"):
    request = urllib.request.Request(url, headers={"User-Agent": agent}, method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, dict(answer.headers), answer.read()


def test_a_pip_download_through_the_cdn_is_counted(live_server, published, tmp_path):
    web_port = urlsplit(live_server.url).port
    upload_port = urlsplit(live_server.upload_url).port
    log_dir = tmp_path / "cdn-log"
    with running_varnish(web_port, upload_port, stats_log=log_dir / logs.CURRENT) as cdn:
        clients = Clients(cdn.url, tmp_path)
        clients.pip(
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            tmp_path / "d",
            "interop-twine==1.0",
        )
        [wheel] = [f for f in published.files if f.name.endswith(".whl")]
        simple = json.loads(_get_json(f"{cdn.url}/simple/interop-twine/"))
        url = next(f["url"] for f in simple["files"] if f["filename"] == wheel.name)
        file_url = url if url.startswith("http") else cdn.url + url
        status, headers, _ = _get(file_url, BANDERSNATCH)  # a mirror: counted apart
        assert status == 200 and not any(h.lower().startswith("x-stats") for h in headers)
        _get(file_url, "curl/8.5.0", method="HEAD")  # not a download
        _get(file_url + ".metadata", "pip/24.0")  # not a download
        current = log_dir / logs.CURRENT
        wait_for(
            lambda: (
                current.exists()
                and sum(
                    1 for line in current.read_text().splitlines() if line.startswith("download|")
                )
                >= 2
            ),
            timeout=20,
        )
        lines = current.read_text().splitlines()
        downloads = [line for line in lines if line.startswith("download|")]
        assert len(downloads) == 2, lines
        fields = downloads[0].split("|", 9)
        assert fields[6:9] == ["interop-twine", "1.0", "bdist_wheel"]
        assert fields[1].endswith(" GMT") and fields[2] == "(null)"
        assert fields[3].endswith(wheel.name) and fields[9].startswith("pip/")
        assert any(
            line.startswith("simple|") and "/simple/interop-twine/" in line for line in lines
        )

        # Rotated, then shipped gzipped into the server's store (varnishncsa's escaping
        # undone), then counted from there as the backfill command does.
        assert logs.rotate(log_dir, cdn.varnish.ncsa_pidfile) is not None
        store_root = Path(live_server.env["WAREHOUSE_FILES_PATH"])
        [key] = logs.ship(log_dir, LocalFileStorage(str(store_root)))
        output = live_server.cli("stats", "ingest", str(store_root / key))
        assert "1 file(s) counted (" in output
        again = live_server.cli("stats", "ingest", str(store_root / key))
        assert "0 file(s) counted" in again

        recent = json.loads(_get_json(f"{cdn.url}/api/packages/interop-twine/recent"))
        assert recent == {
            "data": {"last_day": 1, "last_week": 1, "last_month": 1},
            "package": "interop-twine",
            "type": "recent_downloads",
        }
        overall = json.loads(_get_json(f"{cdn.url}/api/packages/interop-twine/overall"))
        assert {r["category"]: r["downloads"] for r in overall["data"]} == {
            "with_mirrors": 2,
            "without_mirrors": 1,
        }
        installers = json.loads(
            _get_json(f"{cdn.url}/api/packages/interop-twine/installer?mirrors=true")
        )
        assert {r["category"]: r["downloads"] for r in installers["data"]} == {
            "pip": 1,
            "bandersnatch": 1,
        }
        info = json.loads(_get_json(f"{cdn.url}/pypi/interop-twine/json"))["info"]
        assert info["downloads"] == {"last_day": 1, "last_month": 1, "last_week": 1}


def _get_json(url: str) -> bytes:
    request = urllib.request.Request(
        url, headers={"Accept": "application/vnd.pypi.simple.v1+json, application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()
