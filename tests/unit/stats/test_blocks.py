"""Blocks of lines counted by Arrow give exactly what the line-by-line loop gives."""

import datetime
import gzip
import io
import random

import pytest

from tests.unit.stats import agents
from tests.unit.stats.agents import download_line, simple_line
from warehouse.stats import ingest
from warehouse.stats.lines import MAX_KEPT_MALFORMED, Aggregates, Tally

DAY = datetime.date(2026, 12, 4)
STAMPS = [
    "Thu, 03 Dec 2026 23:59:59 GMT",
    "Fri, 04 Dec 2026 00:00:01 GMT",
    "Fri, 04 Dec 2026 21:55:44 GMT",
]
MALFORMED = [
    line.rstrip("\n")
    for line in (
        "download|Fri, 04 Dec 2026 21:55:44 GMT|DE|/x",
        download_line(agents.PIP, stamp="yesterday"),
        download_line(agents.PIP, stamp="Fri, 04 Dec 2026 25:55:44 GMT"),
        download_line(agents.PIP, stamp="Sat, 04 Dec 2026 21:55:44 GMT"),
        download_line(agents.PIP, project="(null)"),
        download_line(agents.PIP, project=""),
        download_line(agents.PIP).replace("download|", "upload|"),
        "   ",
        "|||||||||x",
    )
]


def _mixed_lines(count: int, seed: int) -> list[bytes]:
    """Lines of every kind: each agent family, index pages, a bar inside an agent, odd
    countries, versions and names, the malformed ones, bytes that are not UTF-8 in a
    counted field, two days."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        roll = rng.random()
        stamp = rng.choice(STAMPS)
        if roll < 0.1:
            line = rng.choice(MALFORMED)
        elif roll < 0.15:
            line = simple_line(rng.choice(list(agents.ALL.values())), stamp=stamp)
        elif roll < 0.17:
            line = download_line("Mozilla/5.0 (X11) a|b|c", stamp=stamp)
        else:
            line = download_line(
                rng.choice(list(agents.ALL.values())),
                project=rng.choice(["sampleproject", "Sample_Project", "other.Thing", "zope"]),
                version=rng.choice(["1.0", "2.0", "(null)", ""]),
                ptype=rng.choice(["bdist_wheel", "sdist", "(null)"]),
                country=rng.choice(["DE", "us", "(null)", ""]),
                stamp=stamp,
            )
        data = line.rstrip("\n").encode()
        if rng.random() < 0.01 and data.count(b"|") >= 9:
            data = data.replace(b"|DE|", b"|D\xff|")
        lines.append(data)
    return lines


def _same(fast: Tally, slow: Tally) -> None:
    for field in ("lines", "downloads", "ignored", "index_pages", "malformed", "skipped"):
        assert getattr(fast, field) == getattr(slow, field), field
    assert fast.kept_malformed == slow.kept_malformed
    assert fast.event_range() == slow.event_range()
    assert sorted(fast.rows()) == sorted(slow.rows())


@pytest.mark.parametrize("since", [None, DAY])
def test_blocks_count_as_the_line_loop_does(since):
    lines = _mixed_lines(3000, seed=5)
    blocks = [b"\n".join(lines[start : start + 700]) for start in range(0, len(lines), 700)]
    fast = Tally(since=since).feed_blocks(blocks)
    slow = Tally(since=since).feed_each(lines)
    assert fast.tables, "the blocks were counted by Arrow"
    assert fast.downloads > 1000 and fast.malformed > 100 and fast.ignored > 0
    assert len(fast.kept_malformed) == MAX_KEPT_MALFORMED
    _same(fast, slow)


@pytest.mark.parametrize(
    "odd",
    [b"", b"\r", b"garbage|\xff\xfe|x"],
    ids=["empty line", "carriage return", "not UTF-8 in a short line"],
)
def test_a_block_arrow_cannot_vouch_for_is_counted_line_by_line(odd):
    lines = _mixed_lines(200, seed=7)
    lines[50] = lines[50] + odd if odd == b"\r" else odd
    block = b"\n".join(lines)
    fast = Tally().feed_blocks([block])
    _same(fast, Tally().feed_each(block.split(b"\n")))


def test_every_agent_family_and_malformed_line_in_a_block():
    lines = [download_line(agent).rstrip("\n").encode() for agent in agents.ALL.values()]
    lines += [line.encode() for line in MALFORMED if line.strip()]
    fast = Tally().feed_blocks([b"\n".join(lines * 2)])
    assert fast.tables
    _same(fast, Tally().feed_each(lines * 2))


def test_agents_are_found_again_after_the_known_set_starts_over(monkeypatch):
    from warehouse.stats import lines

    monkeypatch.setattr(lines, "_ARROW_AGENTS_LIMIT", 3)
    empty = [lines.pa.array([], lines.pa.binary()), lines.pa.array([], lines.pa.int32())]
    monkeypatch.setattr(lines, "_arrow_agents", empty)
    families = list(agents.ALL.values())
    blocks = [
        b"\n".join(download_line(a).rstrip("\n").encode() for a in families[start : start + 4])
        for start in range(0, len(families), 2)
    ]
    fast = Tally().feed_blocks(blocks)
    _same(fast, Tally().feed_each(b"\n".join(blocks).split(b"\n")))


def test_merged_aggregates_are_the_sum_of_each_objects_rows():
    first, second = _mixed_lines(500, seed=1), _mixed_lines(500, seed=2)
    merged = Aggregates()
    merged.add(Tally().feed_blocks([b"\n".join(first)]))
    merged.add(Tally().feed_blocks([b"\n".join(second)]))
    expected: dict = {}
    for lines in (first, second):
        for *key, downloads in Tally().feed_each(lines).rows():
            expected[tuple(key)] = expected.get(tuple(key), 0) + downloads
    assert merged.upper_bound() >= len(merged) == len(expected)
    assert {tuple(key): n for *key, n in merged.rows()} == expected


@pytest.mark.parametrize("gzipped", [False, True])
def test_an_object_is_read_in_blocks_of_whole_lines(monkeypatch, gzipped):
    monkeypatch.setattr(ingest, "_BLOCK_SIZE", 1000)
    monkeypatch.setattr(ingest, "_READ_SIZE", 333)
    lines = _mixed_lines(400, seed=3)
    data = b"\n".join(lines) + b"\n"
    if gzipped:
        # Two gzip members one after another, as concatenated log pieces are.
        half = len(data) // 2
        data = gzip.compress(data[:half]) + gzip.compress(data[half:])
    name = "logs/x.log.gz" if gzipped else "logs/x.log"
    blocks = list(ingest.object_lines(io.BytesIO(data), name).blocks())
    assert len(blocks) > 10
    assert b"\n".join(blocks).split(b"\n") == lines
    assert list(ingest.object_lines(io.BytesIO(data), name)) == lines
    fast = Tally().feed(ingest.object_lines(io.BytesIO(data), name))
    _same(fast, Tally().feed_each(lines))
