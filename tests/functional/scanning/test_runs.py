"""The global scan: a run is planned in PostgreSQL, fanned out one task per release, and
survives an interrupted fan-out and a worker dying mid-release: resuming ends with every
release scanned exactly once. Then its status and its exports."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.functional.scanning.conftest import EXEC_DECODED
from tests.support import factories
from tests.support.artifacts import make_sdist, make_wheel
from warehouse.scanning import runs, tasks
from warehouse.scanning.models import ReleaseHold, ScanResultRow, ScanRun, ScanRunItem
from warehouse.storage import storage_from_settings


@pytest.fixture
def index(db_session, settings, tmp_path):
    """Three projects of two releases (an sdist and a wheel each, real archives on disk);
    ``evil`` 2.0's wheel runs decoded code."""
    build = tmp_path / "build"
    build.mkdir()
    for name in ("alpha", "beta", "evil"):
        project = factories.create_project(db_session, name, versions=("1.0", "2.0"))
        for release in project.releases:
            for file in release.files:
                extra = {f"{name}/__init__.py": EXEC_DECODED}
                bad = name == "evil" and release.version == "2.0"
                if file.filename.endswith(".whl"):
                    made = make_wheel(
                        build, name, release.version, extra_files=extra if bad else None
                    )
                else:
                    made = make_sdist(build, name, release.version)
                blob = Path(settings.files_path) / file.path
                blob.parent.mkdir(parents=True, exist_ok=True)
                blob.write_bytes(made.read_bytes())
    db_session.commit()


def results_by_file(db_session, run_id: int) -> dict[int, int]:
    db_session.rollback()
    return dict(
        db_session.execute(
            sa.select(ScanResultRow.file_id, sa.func.count())
            .where(ScanResultRow.run_id == run_id)
            .group_by(ScanResultRow.file_id)
        ).all()
    )


def test_an_interrupted_run_resumes_to_exact_completion(
    index, db_session, settings, task_context, monkeypatch
):
    ctx = task_context(storage_from_settings(settings))
    with ctx.session() as session:
        run = runs.plan_run(session, "all-releases", "test")
        run_id = run.id
    assert run.total == 6

    # The fan-out is interrupted after two tasks (the CLI killed while sending).
    sent: list[int] = []

    def send_then_die(run, item):
        if len(sent) == 2:
            raise KeyboardInterrupt
        sent.append(item)
        return runs.scan_run_item(ctx, run, item)

    with pytest.raises(KeyboardInterrupt):
        runs.send_pending(ctx, run_id, send_then_die)

    # A worker dies in the middle of the next release (after claiming it, before recording).
    real_prefetch = tasks.prefetch
    calls = []

    def dying_prefetch(ctx_, key, destination):
        calls.append(key)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real_prefetch(ctx_, key, destination)

    monkeypatch.setattr(tasks, "prefetch", dying_prefetch)
    with ctx.session() as session:
        victim = runs.pending_item_ids(session, run_id)[0]
    with pytest.raises(SystemExit):
        runs.scan_run_item(ctx, run_id, victim)
    monkeypatch.setattr(tasks, "prefetch", real_prefetch)
    db_session.rollback()
    item = db_session.get(ScanRunItem, victim)
    assert (item.state, item.attempts) == ("pending", 1)
    assert len(results_by_file(db_session, run_id)) == 4  # two releases of two files

    # Resume: whatever is pending is sent again; a second delivery of a done one is a no-op.
    resumed = runs.send_pending(ctx, run_id, lambda r, i: runs.scan_run_item(ctx, r, i))
    assert resumed == 4
    assert runs.scan_run_item(ctx, run_id, sent[0]) == "skipped"

    counts = results_by_file(db_session, run_id)
    assert len(counts) == 12 and set(counts.values()) == {1}  # every file exactly once
    run = db_session.get(ScanRun, run_id)
    assert run.finished is not None
    progress = runs.progress(db_session, run)
    assert (progress.done, progress.failed, progress.pending) == (6, 0, 0)
    assert progress.by_verdict == {"clean": 5, "malicious": 1}
    assert [(h.project_name, h.version) for h in db_session.scalars(sa.select(ReleaseHold))] == [
        ("evil", "2.0")
    ]


def test_latest_and_changed_rules_scopes(index, db_session, settings, task_context):
    ctx = task_context(storage_from_settings(settings))
    with ctx.session() as session:
        latest = runs.plan_run(session, "latest", "test")
    assert latest.total == 3
    db_session.rollback()
    assert (
        sorted(
            db_session.scalars(
                sa.select(ScanRunItem.version).where(ScanRunItem.run_id == latest.id)
            )
        )
        == ["2.0"] * 3
    )
    runs.send_pending(ctx, latest.id, lambda r, i: runs.scan_run_item(ctx, r, i))

    # Every file of the 2.0 releases has a result under the current rules: only 1.0s remain.
    with ctx.session() as session:
        changed = runs.plan_run(session, "changed-rules", "test")
    db_session.rollback()
    assert (
        sorted(
            db_session.scalars(
                sa.select(ScanRunItem.version).where(ScanRunItem.run_id == changed.id)
            )
        )
        == ["1.0"] * 3
    )
    # Beat starts nothing while no result was made by other rules.
    assert runs.start_run_for_new_rules(ctx, send=lambda r, i: None) is None


def test_a_child_that_keeps_failing_is_recorded_not_fatal(
    index, db_session, settings, task_context, monkeypatch
):
    from warehouse.scanning.isolation import failed_result

    ctx = task_context(storage_from_settings(settings), scan_max_attempts=2)
    with ctx.session() as session:
        run = runs.plan_run(session, "latest", "test")
        first = runs.pending_item_ids(session, run.id)[0]
    monkeypatch.setattr(
        "warehouse.scanning.isolation.scan_file_isolated",
        lambda path, limits, filename=None: failed_result(filename, "child killed by signal 9"),
    )
    with pytest.raises(runs.RetryLater):
        runs.scan_run_item(ctx, run.id, first)
    assert runs.scan_run_item(ctx, run.id, first) == "failed"
    db_session.rollback()
    item = db_session.get(ScanRunItem, first)
    assert (item.state, item.attempts, item.error) == ("failed", 2, "child killed by signal 9")
    verdicts = set(
        db_session.scalars(sa.select(ScanResultRow.verdict).where(ScanResultRow.run_id == run.id))
    )
    assert verdicts == {"suspicious"}  # never clean


def test_status_and_exports_from_the_cli(index, db_session, settings, task_context, cli, tmp_path):
    ctx = task_context(storage_from_settings(settings))
    with ctx.session() as session:
        run = runs.plan_run(session, "latest", "test")
    runs.send_pending(ctx, run.id, lambda r, i: runs.scan_run_item(ctx, r, i))

    status = cli("scan", "status", str(run.id)).output
    assert "finished: 3 done, 0 failed, 0 pending; 2 clean, 1 malicious" in status

    cli("scan", "export", str(run.id), "--format", "jsonl", "--to", str(tmp_path / "r.jsonl"))
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    bad = next(d for d in lines if d["verdict"] == "malicious")
    assert bad["project"] == "evil" and bad["findings"][0]["location"]["line"] == 2
    assert "exec(base64.b64decode(" in bad["findings"][0]["excerpt"]

    cli("scan", "export", str(run.id), "--format", "sarif", "--to", str(tmp_path / "r.sarif"))
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    [sarif_run] = sarif["runs"]
    assert {r["ruleId"] for r in sarif_run["results"]} == {"py-exec-decoded"}
    assert sarif_run["tool"]["driver"]["rules"][0]["id"] == "py-exec-decoded"

    cli("scan", "export", str(run.id), "--format", "sqlite", "--to", str(tmp_path / "r.db"))
    with sqlite3.connect(tmp_path / "r.db") as connection:
        assert connection.execute("SELECT count(*) FROM results").fetchone() == (6,)
        assert connection.execute(
            "SELECT rule FROM findings JOIN results ON results.id = result_id "
            "WHERE verdict = 'malicious'"
        ).fetchall() == [("py-exec-decoded",)]

    assert "there is no scan run 999" in cli("scan", "status", "999", status=1).output


def test_admin_pages_queues_and_metrics_show_the_runs(
    index, db_session, settings, task_context, admin_site
):
    from prometheus_client import generate_latest

    from tests.functional.admin.conftest import said
    from warehouse.metrics import registry_for_scrape

    ctx = task_context(storage_from_settings(settings))
    with ctx.session() as session:
        done = runs.plan_run(session, "latest", "test")
    runs.send_pending(ctx, done.id, lambda r, i: runs.scan_run_item(ctx, r, i))
    with ctx.session() as session:
        waiting = runs.plan_run(session, "all-releases", "test")

    page = admin_site.get(f"/admin/scanning/runs/{done.id}/")
    assert said(page, "3 done, 0 failed, 0 pending of 3 releases")
    assert said(page, "evil 2.0 malicious")
    listing = admin_site.get("/admin/scanning/runs/")
    assert said(listing, f"{waiting.id} all-releases")
    queues = admin_site.get("/admin/queues/")
    row = queues.html.find("tr", attrs={"data-kind": "Scan"})
    assert row is not None and f"/admin/scanning/runs/{waiting.id}/" in str(row)
    assert said(queues, f"run {done.id} · latest")
    admin_site.get("/admin/scanning/runs/999/", status=404)

    scrape = generate_latest(registry_for_scrape(lambda: ctx)).decode()
    assert f'warehouse_scan_run_pending_releases{{run="{waiting.id}"}} 6.0' in scrape
    assert 'warehouse_scan_files_total{trigger="run",verdict="malicious"}' in scrape
    assert 'warehouse_scan_seconds_count{trigger="run"}' in scrape


def test_a_run_from_the_cli_is_scanned_by_a_real_worker(
    index, db_session, settings, task_context, cli
):
    from tests.support.celery_worker import celery_app_for, embedded_worker
    from tests.support.waiting import wait_for
    from warehouse import tasks as celery_tasks

    ctx = task_context(storage_from_settings(settings))
    celery_tasks.set_context(ctx)
    try:
        with celery_app_for(settings):
            output = cli("scan", "run", "--latest").output
            assert "3 releases, 3 tasks sent" in output
            run_id = int(re.search(r"scan run (\d+) started", output).group(1))
            with embedded_worker():
                wait_for(
                    lambda: (
                        db_session.rollback()
                        or db_session.get(ScanRun, run_id).finished is not None
                    ),
                    timeout=60,
                    message="the worker never finished the run",
                )
            # Resuming a finished run sends nothing.
            assert "0 tasks sent" in cli("scan", "run", "--resume", str(run_id)).output
    finally:
        celery_tasks.set_context(None)
    counts = results_by_file(db_session, run_id)
    assert len(counts) == 6 and set(counts.values()) == {1}
