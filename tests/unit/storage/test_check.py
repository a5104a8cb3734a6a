"""``warehouse check`` on real buckets: clean after normal work; each kind of damage a fault can
leave (a lost blob, a gap in the serials, a stuck copy, a task failed for good) is named."""

# ruff: noqa: F811 - the stores and the context are test_replication's fixtures

from __future__ import annotations

import datetime
import json

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from tests.support.factories import create_project
from tests.unit.storage.test_replication import (  # noqa: F401 - fixtures
    archive,
    archive_blobs,
    buckets,
    cache_store,
    ctx,
    stores,
)
from tests.unit.storage.test_verify import s3_env
from warehouse import tasks
from warehouse.cli import main
from warehouse.packaging.models import JournalEntry
from warehouse.storage.models import FileCacheStatus

pytestmark = [pytest.mark.s3, pytest.mark.xdist_group("seaweedfs")]


def run_check(ctx, archive, cache_store, *args):
    env = {
        "DATABASE_URL": ctx.settings.database_url,
        "REDIS_URL": ctx.settings.redis_url,
        **s3_env(archive, cache_store),
    }
    result = CliRunner().invoke(main, ["check", "--json", *args], env=env)
    findings = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            finding = json.loads(line)
            findings[finding["check"]] = finding
    return result.exit_code, findings


@pytest.fixture
def healthy(ctx, db_session, archive, tmp_path):
    project = create_project(db_session, "checked", ["1.0", "2.0"], files=("wheel", "sdist"))
    files = [file for release in project.releases for file in release.files]
    for file in files:
        archive_blobs(archive, file, tmp_path)
    now = datetime.datetime.now(datetime.UTC)
    for file in files:
        db_session.merge(FileCacheStatus(file_id=file.id, cached_at=now))
    db_session.commit()
    return files


def test_a_whole_index_checks_clean(ctx, healthy, archive, cache_store):
    status, findings = run_check(ctx, archive, cache_store)
    assert status == 0, findings
    assert set(findings) == {"journal", "archive", "cache", "tasks"}
    assert all(finding["ok"] for finding in findings.values())
    assert findings["archive"]["detail"].startswith("4 files uploaded since")


def test_each_kind_of_damage_is_named(ctx, healthy, archive, cache_store, db_session):
    lost, stuck = healthy[0], healthy[1]
    archive.delete(lost.path)
    # A copy pending since long before three reconcile rounds.
    db_session.execute(
        sa.update(FileCacheStatus).where(FileCacheStatus.file_id == stuck.id).values(cached_at=None)
    )
    stuck.upload_time = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    # A lost journal entry in the middle of the serials.
    middle = db_session.scalars(sa.select(JournalEntry.id).order_by(JournalEntry.id)).all()[2]
    db_session.execute(sa.delete(JournalEntry).where(JournalEntry.id == middle))
    db_session.commit()
    # A task that failed for good, as Celery's result backend keeps it.
    results = redis.Redis.from_url(tasks.redis_db_url(ctx.settings.redis_url, 2))
    results.set(
        "celery-task-meta-x1",
        json.dumps(
            {
                "status": "FAILURE",
                "task_id": "x1",
                "name": "warehouse.storage.tasks.send_copies",
                "date_done": datetime.datetime.now(datetime.UTC).isoformat(),
                "result": {"exc_type": "ConnectionError", "exc_message": "archive unreachable"},
            }
        ),
    )

    status, findings = run_check(ctx, archive, cache_store, "--since", "all")

    assert status == 1
    assert not findings["archive"]["ok"] and findings["archive"]["examples"] == [lost.path]
    assert not findings["journal"]["ok"]
    assert findings["journal"]["examples"] == [f"{middle}..{middle}"]
    assert not findings["cache"]["ok"] and stuck.filename in findings["cache"]["examples"]
    assert not findings["tasks"]["ok"]
    assert "archive unreachable" in findings["tasks"]["examples"][0]
    results.flushdb()
