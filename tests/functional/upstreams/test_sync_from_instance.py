"""Another instance of this index as an upstream: incremental sync by serial, resumable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from warehouse.admin.jobs import recent_runs
from warehouse.packaging.models import JournalEntry, Project
from warehouse.storage.local import LocalFileStorage
from warehouse.upstreams import metrics, sync
from warehouse.upstreams.client import StalePage
from warehouse.upstreams.fetch import fetch_into_archive
from warehouse.upstreams.models import Upstream, UpstreamQueueItem
from warehouse.upstreams.services import add_upstream, allow

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def ctx(task_context, settings):
    return task_context(LocalFileStorage(settings.files_path))


def _upstream(ctx, url, **kwargs) -> int:
    with ctx.session() as session:
        return add_upstream(session, ctx.settings, name="inst", url=url, **kwargs).id


def _only(names: list[str]) -> str:
    # The live server is shared with other tests: keep to this module's projects.
    config = "[plugins]\nenabled =\n    allowlist_project\n[allowlist]\npackages =\n"
    return config + "".join(f"    {n}\n" for n in names)


def _sync_all(ctx, upstream_id) -> list:
    sync.discover(ctx, upstream_id)
    with ctx.session() as session:
        names = sync.queued_names(session, upstream_id)
    return [sync.sync_project(ctx, upstream_id, n) for n in names]


def test_incremental_sync_by_serial(ctx, instance_upstream, webapp):
    instance_upstream.publish("inst-alpha", "1.0")
    instance_upstream.publish("inst-beta", "1.0", "w")
    upstream_id = _upstream(
        ctx, instance_upstream.simple_url, bandersnatch_config=_only(["inst-alpha", "inst-beta"])
    )
    applied = _sync_all(ctx, upstream_id)
    assert len(applied) == 2 and all(a.created for a in applied)
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        assert upstream.has_serials and upstream.last_serial == upstream.target_serial > 0
        first_serial = upstream.last_serial
        assert not session.scalar(sa.select(sa.func.count()).select_from(UpstreamQueueItem))
        entries = session.scalars(
            sa.select(JournalEntry.action).where(JournalEntry.name == "inst-alpha")
        ).all()
    assert "create" in entries and "new release" in entries
    assert sum(a.startswith("add ") for a in entries) == 2

    page = webapp.get("/simple/inst-alpha/", headers=JSON).json
    assert {f["filename"] for f in page["files"]} == {
        "inst_alpha-1.0-py3-none-any.whl",
        "inst_alpha-1.0.tar.gz",
    }
    # The JSON API serves the upstream's metadata, with our file URLs.
    assert page["_upstream"] == "inst" and "tracks" not in page
    assert '<meta name="warehouse:upstream" content="inst">' in webapp.get("/simple/inst-alpha/")
    info = webapp.get("/pypi/inst-alpha/json").json
    assert info["info"]["summary"] == "An example project"
    assert info["info"]["_upstream"] == "inst"
    assert all(u["url"].startswith("http://localhost/packages/") for u in info["urls"])
    # The first download fetches from the upstream; the bytes are the upstream's.
    wheel = next(f for f in page["files"] if f["filename"].endswith(".whl"))
    body = webapp.get(wheel["url"].removeprefix("http://localhost")).body
    upstream_copy = instance_upstream.workdir / "inst-alpha-1.0" / wheel["filename"]
    assert body == upstream_copy.read_bytes()
    # Its PEP 658 metadata came with it (fetched once the wheel's answer was sent).
    assert wheel.get("core-metadata")
    metadata_key = wheel["url"].removeprefix("http://localhost/packages/") + ".metadata"
    assert ctx.archive.exists(metadata_key)
    sidecar = webapp.get(wheel["url"].removeprefix("http://localhost") + ".metadata").body
    assert sidecar.startswith(b"Metadata-Version")

    # A new release upstream: only that project is queued and synced, found through the
    # upstream's change log (XML-RPC) rather than its whole index.
    instance_upstream.publish("inst-alpha", "1.1", "s")
    pages = metrics.PAGES_FETCHED
    index_reads, changelog_reads = (
        pages.labels(kind=k)._value.get() for k in ("index", "changelog")
    )
    applied = _sync_all(ctx, upstream_id)
    assert len(applied) == 1 and len(applied[0].new_file_ids) == 1
    assert pages.labels(kind="index")._value.get() == index_reads
    assert pages.labels(kind="changelog")._value.get() > changelog_reads
    with ctx.session() as session:
        assert session.get(Upstream, upstream_id).last_serial > first_serial
    versions = webapp.get("/simple/inst-alpha/", headers=JSON).json["versions"]
    assert versions == ["1.0", "1.1"]


def test_one_request_a_project_once_the_json_api_is_known_complete(instance_upstream):
    from warehouse.upstreams import client as client_module

    # What this process learnt from earlier tests' syncs is forgotten: learnt afresh here.
    client_module._JSON_API_COMPLETE.clear()
    instance_upstream.publish("inst-one", "1.0", "ws")
    instance_upstream.publish("inst-one", "1.1", "w")
    pages = metrics.PAGES_FETCHED
    client = client_module.UpstreamClient(instance_upstream.simple_url)
    try:
        counts = [pages.labels(kind=k)._value.get() for k in ("project", "json")]
        both = client.project("inst-one")  # the simple page and the JSON API
        assert client.json_api_complete is True
        after_both = [pages.labels(kind=k)._value.get() for k in ("project", "json")]
        alone = client.project("inst-one")  # the JSON API alone
        after_alone = [pages.labels(kind=k)._value.get() for k in ("project", "json")]
        assert client.project("inst-nowhere") is None
    finally:
        client.close()
    assert [b - a for a, b in zip(counts, after_both, strict=True)] == [1, 1]
    assert [b - a for a, b in zip(after_both, after_alone, strict=True)] == [0, 1]
    # Every later client of this process (tasks, threads) starts knowing it.
    assert client_module.UpstreamClient(instance_upstream.simple_url).json_api_complete is True
    # The same page either way: files, digests, PEP 658 metadata, serial, description.
    assert alone == both
    assert both.document["releases"]["1.0"][0]["core_metadata"]


def test_a_stale_page_is_refused_and_the_checkpoint_stays(ctx, instance_upstream):
    instance_upstream.publish("inst-stale", "1.0", "s")
    upstream_id = _upstream(
        ctx, instance_upstream.simple_url, bandersnatch_config=_only(["inst-stale"])
    )
    sync.discover(ctx, upstream_id)
    with ctx.session() as session:
        # As if the changelog said the project moved past what its page (from a CDN) shows.
        session.execute(sa.update(UpstreamQueueItem).values(serial=10**9))
    with pytest.raises(StalePage):
        sync.sync_project(ctx, upstream_id, "inst-stale")
    with ctx.session() as session:
        item = session.scalar(sa.select(UpstreamQueueItem))
        assert item.attempts == 1 and "stale page" in item.last_error
        assert (
            session.scalar(sa.select(Project).where(Project.normalized_name == "inst-stale"))
            is None
        )


def test_a_killed_pass_resumes_with_what_it_had_not_applied(ctx, instance_upstream):
    for name in ("inst-k1", "inst-k2", "inst-k3"):
        instance_upstream.publish(name, "1.0", "s")
    upstream_id = _upstream(
        ctx,
        instance_upstream.simple_url,
        bandersnatch_config=_only(["inst-k1", "inst-k2", "inst-k3"]),
    )
    sync.discover(ctx, upstream_id)
    sync.sync_project(ctx, upstream_id, "inst-k1")  # then the worker dies
    with ctx.session() as session:
        assert sync.queued_names(session, upstream_id) == ["inst-k2", "inst-k3"]
        assert session.get(Upstream, upstream_id).state == "syncing"
        # The admin queues page shows the pass as running, with what is left.
        runs, errors = recent_runs(session)
        (run,) = [r for r in runs if r.kind == "Upstream sync"]
        assert not errors
        assert (run.name, run.state, run.done, run.total) == ("inst", "running", 1, 3)
        assert "2 queued" in run.detail
    # The next pass finds nothing new upstream, and finishes the queue it left.
    applied = _sync_all(ctx, upstream_id)
    assert [a.created for a in applied] == [True, True]
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        assert upstream.state == "idle" and upstream.last_serial == upstream.target_serial


def test_a_local_name_is_never_replaced_unless_allowed(
    ctx, instance_upstream, webapp, make_user, db_session
):
    instance_upstream.publish("inst-ours", "9.0", "s")
    with ctx.session() as session:
        session.add(
            Project(name="inst-ours", normalized_name="inst-ours", last_serial=0, total_size=0)
        )
    upstream_id = _upstream(
        ctx, instance_upstream.simple_url, bandersnatch_config=_only(["inst-ours"])
    )
    applied = _sync_all(ctx, upstream_id)
    assert applied[0].skipped == "local project, not allowed from this upstream"
    assert webapp.get("/simple/inst-ours/", headers=JSON).json["files"] == []

    with ctx.session() as session:
        allow(session, "inst", "inst-ours")
    applied = sync.sync_project(ctx, upstream_id, "inst-ours")
    assert len(applied.new_file_ids) == 1
    page = webapp.get("/simple/inst-ours/", headers=JSON).json
    assert [f["filename"] for f in page["files"]] == ["inst_ours-9.0.tar.gz"]
    # Both here and upstream: PEP 708 says where else the project lives.
    assert page["tracks"] == [instance_upstream.simple_url + "inst-ours/"]
    assert set(page["alternate-locations"]) == {
        "http://localhost/simple/inst-ours/",
        instance_upstream.simple_url + "inst-ours/",
    }
    html = webapp.get("/simple/inst-ours/").text
    assert f'<meta name="pypi:tracks" content="{instance_upstream.simple_url}inst-ours/">' in html
    assert html.count('name="pypi:alternate-locations"') == 2


def test_immediate_policy_keeps_every_file_at_sync(ctx, instance_upstream):
    instance_upstream.publish("inst-now", "1.0")
    upstream_id = _upstream(
        ctx,
        instance_upstream.simple_url,
        policy="immediate",
        bandersnatch_config=_only(["inst-now"]),
    )
    (applied,) = _sync_all(ctx, upstream_id)
    outcomes = [fetch_into_archive(ctx, file_id) for file_id in applied.new_file_ids]
    assert outcomes == ["stored", "stored"]
    with ctx.session() as session:
        paths = session.scalars(sa.text("SELECT path FROM release_files")).all()
    assert all(ctx.archive.exists(p) for p in paths)
    # The wheel's PEP 658 metadata came along (the cache copy needs both blobs).
    assert any(ctx.archive.exists(p + ".metadata") for p in paths)


def test_a_project_removed_upstream_is_removed_here(ctx, instance_upstream):
    instance_upstream.publish("inst-gone", "1.0", "s")
    upstream_id = _upstream(
        ctx, instance_upstream.simple_url, bandersnatch_config=_only(["inst-gone"])
    )
    _sync_all(ctx, upstream_id)
    instance_upstream.server.cli("project", "delete", "inst-gone", "--confirm", "inst-gone")
    (applied,) = _sync_all(ctx, upstream_id)
    assert applied.removed
    with ctx.session() as session:
        assert (
            session.scalar(sa.select(Project.id).where(Project.normalized_name == "inst-gone"))
            is None
        )
        actions = session.scalars(
            sa.select(JournalEntry.action)
            .where(JournalEntry.name == "inst-gone")
            .order_by(JournalEntry.id.desc())
        ).all()
    assert actions[0] == "remove project"


def test_the_beat_pass_sends_one_task_per_queued_project_on_its_queue(
    ctx, instance_upstream, monkeypatch
):
    from warehouse import tasks
    from warehouse.settings import Settings
    from warehouse.upstreams import tasks as upstream_tasks

    instance_upstream.publish("inst-beat", "1.0", "s")
    upstream_id = _upstream(
        ctx, instance_upstream.simple_url, bandersnatch_config=_only(["inst-beat"])
    )
    sent = []
    monkeypatch.setattr(upstream_tasks.sync_project, "delay", lambda *args: sent.append(args))
    previous = tasks._context
    tasks.set_context(ctx)
    try:
        assert upstream_tasks.sync_all.apply().get() == {"inst": 1}
    finally:
        tasks.set_context(previous)
    assert sent == [(upstream_id, "inst-beat")]
    config = tasks.celery_config(Settings(upstream_sync_seconds=120))
    assert config["task_routes"]["warehouse.upstreams.tasks.sync_project"] == {"queue": "upstreams"}
    assert config["beat_schedule"]["upstreams-sync"]["schedule"] == 120
