"""The per-process copy behind flags and the quarantine blocklist, against a real Redis."""

from __future__ import annotations

import pytest

from warehouse import nonblocking
from warehouse.admin.memo import VersionedMemo, bump


@pytest.fixture
def loads():
    return []


@pytest.fixture
def make_memo(redis_client, loads):
    def make(**options):
        def load():
            loads.append(1)
            return frozenset({f"value-{len(loads)}"})

        return VersionedMemo(redis_client, "test:version", load, **options)

    return make


def test_reads_within_the_check_window_cost_nothing(make_memo, loads, redis_client):
    memo = make_memo(check_seconds=60)
    assert memo.get() == {"value-1"}
    redis_client.set("test:version", "changed behind its back")
    assert memo.get() == {"value-1"} and len(loads) == 1


def test_a_bump_from_another_process_reloads_at_the_next_check(make_memo, loads, redis_client):
    memo = make_memo(check_seconds=0)
    memo.get()
    memo.get()
    assert len(loads) == 1  # the version did not change: no reload
    redis_client.set("test:version", "another process committed")
    assert memo.get() == {"value-2"}


def test_a_bump_in_this_process_reloads_at_once(make_memo, loads, redis_client):
    memo = make_memo(check_seconds=60)
    memo.get()
    bump(redis_client, "test:version")
    assert memo.get() == {"value-2"}


def test_a_lost_version_is_recreated_once_not_reloaded_forever(make_memo, loads, redis_client):
    memo = make_memo(check_seconds=0)
    memo.get()
    redis_client.delete("test:version")
    memo.get()
    memo.get()
    assert len(loads) == 2


def test_old_copies_are_reloaded_whatever_redis_says(make_memo, loads):
    memo = make_memo(check_seconds=0, max_age=0)
    memo.get()
    memo.get()
    assert len(loads) == 2


def test_without_redis_it_still_answers(loads):
    memo = VersionedMemo(
        None, "test:version", lambda: loads.append(1) or frozenset(), check_seconds=0
    )
    assert memo.get() == frozenset()


def test_on_the_event_loop_a_stale_copy_hands_off_instead_of_waiting(make_memo):
    memo = make_memo(check_seconds=0)
    assert memo.fresh_value() is None
    with nonblocking.on_loop(), pytest.raises(nonblocking.WouldBlock):
        memo.get()
