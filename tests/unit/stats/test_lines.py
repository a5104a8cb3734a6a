"""The line parser: every agent family, every kind of malformed line, the break-down."""

import datetime

import pytest

from tests.unit.stats import agents
from tests.unit.stats.agents import download_line, simple_line
from warehouse.stats.lines import Agent, Tally, describe_agent

DAY = datetime.date(2026, 12, 4)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pip", Agent("pip", "3", "3.12", "Linux", False)),
        ("pip-py2", Agent("pip", "2", "2.7", "Windows", False)),
        ("uv", Agent("uv", "3", "3.13", "Darwin", False)),
        ("poetry", Agent("poetry", "3", "3.11", "Linux", False)),
        ("pdm", Agent("pdm", "3", "3.12", "null", False)),
        ("bandersnatch", Agent("bandersnatch", "null", "null", "null", True)),
        ("devpi", Agent("devpi", "null", "null", "null", True)),
        ("chrome", Agent("Browser", "null", "null", "null", False)),
        ("firefox", Agent("Browser", "null", "null", "null", False)),
        ("curl", Agent("Browser", "null", "null", "null", False)),
        ("unknown", Agent("null", "null", "null", "null", False)),
    ],
)
def test_agent_families(name, expected):
    assert describe_agent(agents.ALL[name]) == expected


@pytest.mark.parametrize("name", ["googlebot", "bingbot", "datadog", "go"])
def test_bots_are_not_counted(name):
    assert describe_agent(agents.ALL[name]) is None
    tally = Tally().feed([download_line(agents.ALL[name])])
    assert (tally.lines, tally.downloads, tally.ignored) == (1, 0, 1)
    assert list(tally.rows()) == []


def test_our_upstream_sync_counts_as_a_mirror():
    agent = describe_agent("warehouse-upstream/1.0 (+https://example.org)")
    assert agent is not None and agent.mirror


def test_a_download_is_broken_down_by_every_dimension():
    tally = Tally().feed([download_line(agents.PIP, project="Sample_Project", country="de")] * 3)
    rows = {(r[1], r[3]): (r[0], r[2], r[4], r[5]) for r in tally.rows()}
    assert rows == {
        ("overall", ""): ("sample-project", DAY, False, 3),
        ("version", "1.0"): ("sample-project", DAY, False, 3),
        ("installer", "pip"): ("sample-project", DAY, False, 3),
        ("python_major", "3"): ("sample-project", DAY, False, 3),
        ("python_minor", "3.12"): ("sample-project", DAY, False, 3),
        ("system", "Linux"): ("sample-project", DAY, False, 3),
        ("country", "DE"): ("sample-project", DAY, False, 3),
        ("file_type", "bdist_wheel"): ("sample-project", DAY, False, 3),
    }


def test_mirrors_are_counted_apart_and_missing_values_are_null():
    lines = [
        download_line(agents.BANDERSNATCH, country="(null)", ptype="sdist"),
        download_line(agents.UV, version="(null)"),
        download_line(agents.UV, stamp="Sat, 05 Dec 2026 00:00:01 GMT"),
    ]
    tally = Tally().feed(lines)
    overall = sorted((r[2], r[4], r[5]) for r in tally.rows() if r[1] == "overall")
    assert overall == [(DAY, False, 1), (DAY, True, 1), (DAY + datetime.timedelta(1), False, 1)]
    country = {(r[3], r[4]) for r in tally.rows() if r[1] == "country"}
    assert ("null", True) in country
    versions = {r[3] for r in tally.rows() if r[1] == "version"}
    assert versions == {"null", "1.0"}
    assert tally.event_range() == (
        datetime.datetime(2026, 12, 4, 21, 55, 44, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 5, 0, 0, 1, tzinfo=datetime.UTC),
    )


def test_index_pages_are_read_not_counted():
    tally = Tally().feed([simple_line(agents.PIP), download_line(agents.PIP)])
    assert (tally.lines, tally.index_pages, tally.downloads, tally.malformed) == (2, 1, 1, 0)


def test_a_user_agent_with_a_bar_stays_whole():
    tally = Tally().feed([download_line("Mozilla/5.0 (X11) a|b|c")])
    assert tally.downloads == 1 and tally.malformed == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("\n", "empty line"),
        ("download|Fri, 04 Dec 2026 21:55:44 GMT|DE|/x\n", "expected 10 fields"),
        (download_line(agents.PIP, stamp="yesterday"), "timestamp 'yesterday'"),
        (download_line(agents.PIP, stamp="Fri, 04 Dec 2026 25:55:44 GMT"), "timestamp"),
        (download_line(agents.PIP, project="(null)"), "without a project"),
        (download_line(agents.PIP, project=""), "without a project"),
        (download_line(agents.PIP).replace("download|", "upload|"), "unknown line type"),
    ],
)
def test_malformed_lines_are_counted_and_kept_with_the_reason(line, reason):
    tally = Tally().feed([download_line(agents.PIP), line, download_line(agents.PIP)])
    assert (tally.lines, tally.downloads, tally.malformed) == (3, 2, 1)
    [kept] = tally.kept_malformed
    assert kept.line_number == 2 and reason in kept.reason and kept.line == line


def test_days_before_since_are_skipped():
    lines = [
        download_line(agents.PIP, stamp="Thu, 03 Dec 2026 23:59:59 GMT"),
        download_line(agents.PIP),
    ]
    tally = Tally(since=DAY).feed(lines)
    assert (tally.downloads, tally.skipped) == (1, 1)
    assert {r[2] for r in tally.rows()} == {DAY}


def test_threads_meeting_the_same_new_agents_at_once_give_each_one_index(monkeypatch):
    """Objects of a batch are read in threads (stats_read_threads): an agent two of them
    meet first at the same moment is described once, and both count it under one index."""
    import threading
    import time

    import pyarrow as pa

    from warehouse.stats import lines

    class SlowIndex(dict):
        def get(self, key, default=None):
            found = super().get(key, default)
            time.sleep(0.002)  # the other threads run between the look-up and the addition
            return found

    # The agents' tables of this test only, empty: every agent is new to them.
    monkeypatch.setattr(lines, "_ua_cache", {})
    monkeypatch.setattr(lines, "_agents", [])
    monkeypatch.setattr(lines, "_agent_index", SlowIndex())
    monkeypatch.setattr(
        lines, "_arrow_agents", [pa.array([], pa.binary()), pa.array([], pa.int32())]
    )
    strings = pa.array([agents.PIP.encode(), agents.UV.encode(), agents.POETRY.encode()])
    start = threading.Barrier(4)
    answers = []

    def look_up():
        start.wait()
        answers.append(lines._agent_indexes(strings).to_pylist())

    threads = [threading.Thread(target=look_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [[0, 1, 2]] * 4
    assert [lines._agents[i].installer for i in answers[0]] == ["pip", "uv", "poetry"]
    assert len(lines._agents) == 3
