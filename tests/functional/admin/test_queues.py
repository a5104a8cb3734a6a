"""The queues page: beat's jobs with their last and next run, and the long jobs' runs."""

from __future__ import annotations

import datetime

from warehouse import tasks
from warehouse.metrics.queues import record_beat_sent
from warehouse.stats.models import CountedLog
from warehouse.storage.verify.models import VerifyProblem, VerifyRange, VerifyRun

UTC = datetime.UTC


def test_beat_jobs_show_when_they_were_last_sent_and_are_next_due(admin_site, redis_client):
    sent = datetime.datetime.now(UTC) - datetime.timedelta(minutes=20)
    record_beat_sent(redis_client, "storage-verify-slice", sent)

    page = admin_site.get("/admin/queues/")

    row = page.html.find("tr", attrs={"data-job": "storage-verify-slice"})
    times = [t["datetime"] for t in row.find_all("time")]
    assert times[0] == sent.isoformat()
    # Hourly: due 40 minutes from now (give or take the time the request took).
    due = datetime.datetime.fromisoformat(times[1])
    expected = sent + datetime.timedelta(hours=1)
    assert abs((due - expected).total_seconds()) < 5
    assert "every 1 h" in row.text
    # A job beat has not sent yet says so rather than inventing a time.
    unsent = page.html.find("tr", attrs={"data-job": "cache-audit"})
    assert unsent.find("time") is None and "when beat starts" in unsent.text


def test_the_recording_scheduler_notes_each_job_it_sends(redis_client, settings, monkeypatch):
    ctx = tasks.TaskContext.from_settings(settings)
    monkeypatch.setattr(tasks, "_context", ctx)
    sent = []
    monkeypatch.setattr(
        tasks.celery.beat.PersistentScheduler,
        "apply_entry",
        lambda self, entry, producer=None: sent.append(entry.name),
    )
    scheduler = tasks.RecordingScheduler.__new__(tasks.RecordingScheduler)
    entry = tasks.celery.beat.ScheduleEntry(name="cache-audit", task="x", app=tasks.app)

    scheduler.apply_entry(entry)

    assert sent == ["cache-audit"]
    assert redis_client.hget("warehouse:beat:sent", "cache-audit") is not None


def test_long_jobs_list_verify_runs_with_progress_and_the_ingest_lag(admin_site, db_session):
    now = datetime.datetime.now(UTC)
    run = VerifyRun(store="archive", deep=True, expected_keys=200, started_at=now)
    db_session.add(run)
    db_session.flush()
    db_session.add_all(
        [
            VerifyRange(run_id=run.id, lo="0", hi="8", keys_done=100, updated_at=now),
            VerifyRange(run_id=run.id, lo="8", hi=None, keys_done=50, updated_at=now),
            VerifyProblem(run_id=run.id, key="ab/cd/x.whl", kind="missing"),
        ]
    )
    db_session.add(
        CountedLog(
            key="logs/a.log.gz",
            lines=10,
            downloads=9,
            ignored=0,
            index_pages=1,
            malformed=0,
            last_event=now - datetime.timedelta(seconds=90),
        )
    )
    db_session.commit()

    page = admin_site.get("/admin/queues/")

    rows = {
        tr["data-kind"]: tr
        for tr in page.html.find(id="long-jobs").find_all("tr", recursive=True)
        if tr.has_attr("data-kind")
    }
    verify = rows["Storage verify"]
    assert verify.find("progress")["value"] == "75"
    assert "150 / 200" in verify.text and "1 problems" in verify.text and "deep" in verify.text
    ingest = rows["Log ingest"]
    assert "1 log objects counted" in ingest.text
    assert "lag 9" in ingest.text  # 90-something seconds
