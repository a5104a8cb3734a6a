"""``sync_queued``: pages fetched by several threads, applied in the queue's order; a failed
fetch leaves its project queued and the pass unfinished; the next run completes it. The
upstream is a fake client (no HTTP); the database is the suite's PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import sqlalchemy as sa

from warehouse.packaging.models import JournalEntry, Project
from warehouse.storage.local import LocalFileStorage
from warehouse.upstreams import sync
from warehouse.upstreams.client import ProjectPage, UpstreamUnavailable
from warehouse.upstreams.models import Upstream, UpstreamProject, UpstreamQueueItem
from warehouse.upstreams.services import add_upstream

NAMES = [f"par-{i:02d}" for i in range(12)]
SERIAL = 500


def _page(name: str) -> ProjectPage:
    filename = f"{name.replace('-', '_')}-1.0.tar.gz"
    sha256 = hashlib.sha256(filename.encode()).hexdigest()
    file = {
        "filename": filename,
        "url": f"https://up.example/files/{filename}",
        "digests": {"sha256": sha256},
        "packagetype": "sdist",
        "python_version": "source",
        "requires_python": None,
        "size": 10,
        "upload_time_iso_8601": "2026-01-01T00:00:00Z",
        "yanked": False,
        "yanked_reason": None,
        "core_metadata": None,
    }
    document = {"info": {"name": name, "version": "1.0"}, "releases": {"1.0": [file]}}
    return ProjectPage(name, SERIAL, document)


class FakeUpstream:
    """Answers like ``UpstreamClient.project``; later pages answer sooner (so threads finish
    out of order), ``failing`` names raise, a ``held`` name waits for ``release``."""

    def __init__(self):
        self.failing: set[str] = set()
        self.held: str | None = None
        self.release = threading.Event()
        self.fetched: list[str] = []
        self.lock = threading.Lock()
        self.threads: set[str] = set()

    def client(self, *args, **kwargs):
        upstream = self

        class Client:
            def project(self, name):
                with upstream.lock:
                    upstream.threads.add(threading.current_thread().name)
                if name == upstream.held:
                    assert upstream.release.wait(30)
                time.sleep(0.002 * (len(NAMES) - NAMES.index(name)))
                if name in upstream.failing:
                    raise UpstreamUnavailable(f"https://up.example/simple/{name}/ answered 503")
                with upstream.lock:
                    upstream.fetched.append(name)
                return _page(name)

            def close(self):
                pass

        return Client()


@pytest.fixture
def fake(monkeypatch):
    upstream = FakeUpstream()
    monkeypatch.setattr(sync, "UpstreamClient", upstream.client)
    return upstream


@pytest.fixture
def ctx(task_context, settings):
    return task_context(LocalFileStorage(settings.files_path))


def _queued_pass(ctx) -> int:
    """An upstream whose pass queued ``NAMES`` (as ``discover`` leaves it)."""
    with ctx.session() as session:
        upstream = add_upstream(session, ctx.settings, name="par", url="https://up.example/simple/")
        upstream.has_serials, upstream.target_serial, upstream.state = True, SERIAL, "syncing"
        session.flush()
        session.add_all(
            UpstreamQueueItem(upstream_id=upstream.id, normalized_name=n, serial=SERIAL)
            for n in NAMES
        )
        return upstream.id


def _state(ctx, upstream_id):
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        queued = session.scalars(
            sa.select(UpstreamQueueItem).order_by(UpstreamQueueItem.normalized_name)
        ).all()
        created = session.scalars(
            sa.select(JournalEntry.name)
            .where(JournalEntry.action == "create")
            .order_by(JournalEntry.id)
        ).all()
        return (
            (upstream.state, upstream.last_serial),
            [(q.normalized_name, q.attempts, q.last_error) for q in queued],
            created,
        )


def test_a_failed_fetch_stays_queued_and_a_second_run_finishes(ctx, fake):
    upstream_id = _queued_pass(ctx)
    fake.failing = {NAMES[5]}
    outcome = sync.sync_queued(ctx, upstream_id, workers=4)
    assert outcome.applied == len(NAMES) - 1
    assert list(outcome.failed) == [NAMES[5]]
    # Pages came back out of order over several threads ...
    assert len(fake.threads) > 1 and fake.fetched != sorted(fake.fetched)
    (state, last_serial), queued, created = _state(ctx, upstream_id)
    # ... and were applied in the queue's order, the failed one left out.
    assert created == [n for n in NAMES if n != NAMES[5]]
    # The checkpoint: the failed project is still queued with its error, the pass unfinished.
    assert queued == [(NAMES[5], 1, f"https://up.example/simple/{NAMES[5]}/ answered 503")]
    assert (state, last_serial) == ("syncing", 0)

    fake.failing = set()
    outcome = sync.sync_queued(ctx, upstream_id, workers=4)
    assert (outcome.applied, outcome.failed) == (1, {})
    (state, last_serial), queued, created = _state(ctx, upstream_id)
    assert created[-1] == NAMES[5] and sorted(created) == NAMES
    assert queued == [] and (state, last_serial) == ("idle", SERIAL)
    with ctx.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(UpstreamProject)) == 12


def _applied(ctx) -> list[str]:
    with ctx.session() as session:
        return session.scalars(
            sa.select(Project.normalized_name).order_by(Project.normalized_name)
        ).all()


def test_no_page_is_applied_before_the_pages_queued_ahead_of_it(ctx, fake):
    upstream_id = _queued_pass(ctx)
    fake.held = NAMES[3]
    done = {}
    runner = threading.Thread(
        target=lambda: done.update(outcome=sync.sync_queued(ctx, upstream_id, workers=4))
    )
    runner.start()
    try:
        deadline = time.monotonic() + 30
        # Pages after the held one are fetched meanwhile, the ones ahead of it applied ...
        while (len(fake.fetched) < 8 or len(_applied(ctx)) < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        applied = _applied(ctx)
        with ctx.session() as session:
            queued = session.scalars(sa.select(UpstreamQueueItem.normalized_name)).all()
        # ... but none after it (a kill now resumes at the held one).
        assert len(fake.fetched) >= 8
        assert applied == NAMES[:3]
        assert sorted(queued) == NAMES[3:]
    finally:
        fake.release.set()
        runner.join(30)
    assert done["outcome"].applied == len(NAMES)
    assert _state(ctx, upstream_id)[2] == NAMES
