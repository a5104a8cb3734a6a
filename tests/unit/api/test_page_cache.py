"""The page cache against real PostgreSQL and Redis: races, snapshots, outages, the memo."""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
import weakref

import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry
from structlog.testing import capture_logs

from devstack.services import free_port
from tests.support.factories import create_project, create_release
from tests.support.waiting import wait_for
from warehouse import db as database
from warehouse.api.cache import (
    INDEX_SERIAL_KEY,
    INVALIDATION_CHANNEL,
    LRU,
    SERIAL_TTL,
    PageCache,
    SerialMemo,
    invalidate_project,
    project_serial_key,
    snapshot_session,
)
from warehouse.api.common import project_serial
from warehouse.packaging.models import Project, Release

KEY = project_serial_key("raced")


@pytest.fixture
def pages(clean_database, redis_client):
    return PageCache(redis_client, functools.partial(snapshot_session, clean_database))


@pytest.fixture
def project(db_session):
    return create_project(db_session, "raced", ["1.0"])


def add_release(engine, version: str) -> int:
    """Commit a new release from another session, as an upload would; its new serial."""
    with database.make_session_factory(engine)() as writer:
        found = writer.scalar(sa.select(Project).where(Project.normalized_name == "raced"))
        create_release(writer, found, version)
        return found.last_serial


def render_versions(session, serial: int) -> bytes:
    rows = session.scalars(
        sa.select(Release.version).join(Project).where(Project.normalized_name == "raced")
    )
    return f"{serial}:{','.join(sorted(rows))}".encode()


def test_a_reader_that_raced_a_commit_cannot_publish_its_stale_serial(
    pages, project, clean_database, redis_client
):
    old = project.last_serial
    read = project_serial("raced")

    def read_then_lose_the_race(session):
        serial = read(session)  # the snapshot is taken here
        new_serial.append(add_release(clean_database, "2.0"))
        invalidate_project(redis_client, "raced")
        return serial

    new_serial: list[int] = []
    found = pages.get(KEY, "v", read_then_lose_the_race, render_versions)
    # The page is consistent with its (old) serial...
    assert (found.serial, found.body) == (old, f"{old}:1.0".encode())
    # ...but was not published as current, in Redis or in this process.
    assert redis_client.get(KEY).startswith(b"stale:")
    assert pages.memo.get(KEY) is None
    found = pages.get(KEY, "v", read, render_versions)
    assert (found.serial, found.body) == (new_serial[0], f"{new_serial[0]}:1.0,2.0".encode())
    assert redis_client.get(KEY) == str(new_serial[0]).encode()


def test_serial_and_page_come_from_one_snapshot(pages, project, clean_database):
    read = project_serial("raced")

    def read_then_someone_commits(session):
        serial = read(session)
        add_release(clean_database, "2.0")  # after the snapshot: must not show
        return serial

    found = pages.get(KEY, "v", read_then_someone_commits, render_versions)
    assert found.body == f"{project.last_serial}:1.0".encode()


def test_pages_are_rendered_once_per_serial(pages, project, clean_database, redis_client):
    calls = []

    def render(session, serial):
        calls.append(serial)
        return render_versions(session, serial)

    read = project_serial("raced")
    first = pages.get(KEY, "v", read, render)
    assert pages.get(KEY, "v", read, render) == first
    pages.lru.clear()  # another process: the page comes from Redis
    assert pages.get(KEY, "v", read, render) == first
    assert calls == [project.last_serial]
    new = add_release(clean_database, "2.0")
    invalidate_project(redis_client, "raced")
    assert pages.get(KEY, "v", read, render).serial == new
    assert calls == [project.last_serial, new]


def test_an_unknown_thing_is_not_cached(pages, redis_client):
    found = pages.get(project_serial_key("nope"), "v", project_serial("nope"), render_versions)
    assert found.serial is None and found.body is None
    assert redis_client.get(project_serial_key("nope")) is None


def test_a_renderer_can_decline(pages, project, redis_client):
    found = pages.get(KEY, "v", project_serial("raced"), lambda session, serial: "redirect")
    assert (found.serial, found.body, found.other) == (project.last_serial, None, "redirect")
    assert not redis_client.keys("v:*")


def dead_redis() -> redis.Redis:
    return redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def test_redis_outage_falls_back_to_the_database(project, clean_database):
    dead = dead_redis()
    calls = []
    dead.get = lambda *args: calls.append(args) or redis.Redis.get(dead, *args)
    pages = PageCache(dead, functools.partial(snapshot_session, clean_database))
    found = pages.get(KEY, "v", project_serial("raced"), render_versions)
    assert found.body == f"{project.last_serial}:1.0".encode()
    assert len(calls) == 1  # then it stopped asking
    # While Redis is away, the serial comes from the database and the page from the LRU.
    assert pages.get(KEY, "v", project_serial("raced"), lambda *a: 1 / 0) == found
    assert len(calls) == 1
    invalidate_project(dead, "raced")  # logged, not raised


# The per-process memo ---------------------------------------------------------------------


@pytest.fixture
def memo(redis_client):
    memo = SerialMemo(redis_client)
    memo.get("start the listener")
    wait_for(lambda: memo._trusted, timeout=5)
    return memo


@contextlib.contextmanager
def invalidation_during_mget(memo, redis_client):
    """An invalidation (of another key) arrives while the memo's MGET is under way."""
    mget = redis_client.mget

    def invalidated_meanwhile(keys):
        values = mget(keys)
        memo.forget(["other"])
        return values

    redis_client.mget = invalidated_meanwhile
    try:
        yield
    finally:
        del redis_client.mget


def expire_soon(memo, key: str) -> None:
    """Make a remembered serial about to expire: only a refresh can keep it."""
    serial, _, *rest = memo._serials[key]
    memo._serials[key] = (serial, time.monotonic() + 0.5, *rest)


def test_memo_forgets_what_another_process_invalidates(memo, redis_client):
    memo.remember("k", 5, memo.generation)
    memo.remember(INDEX_SERIAL_KEY, 9, memo.generation)
    assert memo.get("k") == 5
    redis_client.publish(INVALIDATION_CHANNEL, f"other {INDEX_SERIAL_KEY}")
    wait_for(lambda: memo.get(INDEX_SERIAL_KEY) is None, timeout=5)
    assert memo.get("k") == 5
    redis_client.publish(INVALIDATION_CHANNEL, "k")
    wait_for(lambda: memo.get("k") is None, timeout=5)


def test_memo_hears_this_process_at_once(memo, redis_client):
    memo.remember(project_serial_key("raced"), 5, memo.generation)
    invalidate_project(redis_client, "raced")
    assert memo.get(project_serial_key("raced")) is None


def test_memo_refuses_an_answer_older_than_an_invalidation(memo):
    generation = memo.generation
    memo.forget(["k"])
    memo.remember("k", 5, generation)
    assert memo.get("k") is None


def test_memo_entries_expire(memo):
    memo.ttl = 0
    memo.remember("k", 5, memo.generation)
    assert memo.get("k") is None


def test_memo_starts_over_after_losing_its_subscription(memo, redis_client):
    memo.remember("k", 5, memo.generation)
    redis_client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    # Whatever was published meanwhile is lost: everything remembered is dropped.
    wait_for(lambda: memo.get("k") is None, timeout=5)
    wait_for(lambda: memo._trusted, timeout=5)
    memo.remember("k", 6, memo.generation)
    assert memo.get("k") == 6


def test_memo_is_not_trusted_without_redis():
    memo = SerialMemo(dead_redis())
    memo.get("k")
    time.sleep(0.3)
    memo.remember("k", 5, memo.generation)
    assert memo.get("k") is None


def test_the_listener_thread_ends_with_its_memo(redis_client):
    # Other tests' memos may still be winding down their own listeners: watch only ours.
    before = set(threading.enumerate())
    memo = SerialMemo(redis_client)
    memo.get("k")
    ref = weakref.ref(memo)
    wait_for(lambda: ref()._trusted, timeout=5)
    (listener,) = [
        t for t in threading.enumerate() if t not in before and t.name == "read-api-invalidations"
    ]
    del memo
    gc.collect()
    wait_for(lambda: not listener.is_alive(), timeout=5)


def test_lru_is_bounded_by_size():
    lru = LRU(max_bytes=100)
    lru.put("a", b"x" * 20)
    lru.put("b", b"x" * 20)
    lru.put("c", b"x" * 20)
    assert lru.get("a")  # now the most recently used
    lru.put("d", b"x" * 20)
    lru.put("e", b"x" * 20)
    lru.put("f", b"x" * 20)
    assert lru.get("b") is None and lru.get("a") is not None
    assert lru.size <= 100
    lru.put("huge", b"x" * 60)  # over a quarter: not kept
    assert lru.get("huge") is None


def test_memo_refresh_keeps_what_redis_confirms_and_drops_the_rest(memo, redis_client):
    redis_client.set("same", 5)
    redis_client.set("moved", 7)
    redis_client.set("stale", b"stale:abc")
    for key in ("same", "moved", "stale", "gone"):
        memo.remember(key, 5, memo.generation)
    expire_soon(memo, "same")

    assert memo.refresh() == 1

    assert memo.get("same") == 5
    assert memo._serials["same"][1] > time.monotonic() + memo.ttl - 5  # trusted afresh
    assert [memo.get(key) for key in ("moved", "stale", "gone")] == [None, None, None]


def test_memo_refresh_keeps_nothing_when_an_invalidation_races_it(memo, redis_client):
    redis_client.set("k", 5)
    memo.remember("k", 5, memo.generation)
    expire_soon(memo, "k")
    with invalidation_during_mget(memo, redis_client):
        assert memo.refresh() == 0
    assert memo._serials["k"][1] < time.monotonic() + 1  # not extended


def test_the_listener_refreshes_the_memo_in_the_background(redis_client):
    memo = SerialMemo(redis_client, ttl=3)
    memo.get("start the listener")
    wait_for(lambda: memo._trusted, timeout=5)
    redis_client.set("k", 5)
    memo.remember("k", 5, memo.generation)
    time.sleep(4)  # past the TTL: only a refresh keeps it
    assert memo.get("k") == 5


# Re-reading serials whose Redis keys expired --------------------------------------------


@pytest.fixture
def rereading_memo(memo, clean_database):
    memo.snapshot = functools.partial(snapshot_session, clean_database)
    return memo


def counting_snapshot(engine, opened: list):
    def snapshot():
        opened.append(True)
        return snapshot_session(engine)

    return snapshot


def test_memo_refresh_rereads_an_expired_serial_and_publishes_it(
    rereading_memo, project, redis_client
):
    memo = rereading_memo
    serial = project.last_serial
    memo.remember(KEY, serial, memo.generation, project_serial("raced"))
    expire_soon(memo, KEY)
    assert redis_client.get(KEY) is None  # expired, or never published

    assert memo.refresh() == 1

    assert memo.get(KEY) == serial
    assert memo._serials[KEY][1] > time.monotonic() + memo.ttl - 5  # trusted afresh
    assert redis_client.get(KEY) == str(serial).encode()  # for the other processes too
    assert 0 < redis_client.ttl(KEY) <= SERIAL_TTL


def test_memo_refresh_drops_an_expired_serial_the_database_moved_past(
    rereading_memo, project, clean_database, redis_client
):
    memo = rereading_memo
    old = project.last_serial
    memo.remember(KEY, old, memo.generation, project_serial("raced"))
    # A writer that committed, then crashed before its invalidation; its tombstone would
    # have expired along with the serial.
    new = add_release(clean_database, "2.0")
    assert new != old and memo.get(KEY) == old

    assert memo.refresh() == 0

    assert memo.get(KEY) is None
    assert redis_client.get(KEY) is None  # neither the old serial nor anything else


def test_memo_refresh_drops_an_expired_serial_whose_project_is_gone(rereading_memo, redis_client):
    memo = rereading_memo
    memo.remember(KEY, 5, memo.generation, project_serial("raced"))  # no such project
    assert memo.refresh() == 0
    assert memo.get(KEY) is None
    assert redis_client.get(KEY) is None


def test_memo_refresh_drops_a_tombstone_without_asking_the_database(
    memo, project, clean_database, redis_client
):
    opened: list = []
    memo.snapshot = counting_snapshot(clean_database, opened)
    rereads = []

    def reread(session):
        rereads.append(session)
        return project.last_serial

    memo.remember(KEY, project.last_serial, memo.generation, reread)
    memo.remember("moved", 5, memo.generation, reread)
    redis_client.set(KEY, b"stale:abc")
    redis_client.set("moved", 6)

    assert memo.refresh() == 0

    assert memo.get(KEY) is None and memo.get("moved") is None
    assert opened == [] and rereads == []
    assert redis_client.get(KEY) == b"stale:abc"


def test_memo_refresh_rereads_all_expired_serials_in_one_snapshot(
    memo, project, clean_database, redis_client
):
    opened: list = []
    memo.snapshot = counting_snapshot(clean_database, opened)
    other = project_serial_key("other")
    memo.remember(KEY, project.last_serial, memo.generation, project_serial("raced"))
    memo.remember(other, 3, memo.generation, project_serial("other"))
    memo.remember("no reread", 4, memo.generation)

    assert memo.refresh() == 1

    assert opened == [True]
    assert memo.get(KEY) == project.last_serial
    assert memo.get(other) is None and memo.get("no reread") is None


def test_memo_refresh_keeps_nothing_when_an_invalidation_races_the_reread(
    rereading_memo, project, clean_database, redis_client
):
    memo = rereading_memo
    old = project.last_serial
    read = project_serial("raced")

    def read_then_lose_the_race(session):
        serial = read(session)  # the snapshot is taken here
        add_release(clean_database, "2.0")
        invalidate_project(redis_client, "raced")
        return serial

    memo.remember(KEY, old, memo.generation, read_then_lose_the_race)
    expire_soon(memo, KEY)

    assert memo.refresh() == 0

    assert memo.get(KEY) is None  # forgotten by the invalidation, not brought back
    assert redis_client.get(KEY).startswith(b"stale:")  # the old serial was not published


def test_memo_refresh_does_not_reread_after_an_invalidation_races_the_mget(
    rereading_memo, project, redis_client
):
    memo = rereading_memo
    rereads = []

    def reread(session):
        rereads.append(session)
        return project.last_serial

    memo.remember(KEY, project.last_serial, memo.generation, reread)
    expire_soon(memo, KEY)
    with invalidation_during_mget(memo, redis_client):
        assert memo.refresh() == 0
    assert rereads == []
    assert memo._serials[KEY][1] < time.monotonic() + 1  # not extended
    assert redis_client.get(KEY) is None


def test_memo_refresh_survives_a_database_error(rereading_memo, project, redis_client):
    memo = rereading_memo
    redis_client.set("confirmed", 5)
    memo.remember("confirmed", 5, memo.generation, project_serial("raced"))
    memo.remember(KEY, project.last_serial, memo.generation, project_serial("raced"))

    def broken(session):
        raise sa.exc.OperationalError("SELECT last_serial", {}, Exception("server closed"))

    memo.remember(project_serial_key("broken"), 7, memo.generation, broken)

    with capture_logs() as logs:
        assert memo.refresh() == 1  # what Redis confirmed; no reset

    assert memo.get("confirmed") == 5
    # The whole re-read failed: none of it is trusted, nor published.
    assert memo.get(KEY) is None and memo.get(project_serial_key("broken")) is None
    assert redis_client.get(KEY) is None
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert "server closed" in logs[0]["error"]


def test_memo_refresh_survives_an_unreachable_database(memo, redis_client):
    dead = sa.create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    memo.snapshot = functools.partial(snapshot_session, dead)
    memo.remember(KEY, 5, memo.generation, project_serial("raced"))
    with capture_logs():
        assert memo.refresh() == 0
    assert memo.get(KEY) is None
    assert memo._trusted


def test_page_lookups_teach_the_memo_how_to_reread_their_serial(pages, project, redis_client):
    pages.memo.get("start the listener")
    wait_for(lambda: pages.memo._trusted, timeout=5)
    found = pages.get(KEY, "v", project_serial("raced"), render_versions)
    assert pages.memo.get(KEY) == found.serial == project.last_serial
    redis_client.delete(KEY)  # as if SERIAL_TTL had passed

    assert pages.memo.refresh() == 1

    assert pages.memo.get(KEY) == project.last_serial
    assert redis_client.get(KEY) == str(project.last_serial).encode()
