"""`warehouse project ...` changes the index the way the web does: journaled, blobs after commit."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist, make_wheel
from warehouse.cli import main
from warehouse.packaging.models import File, FilenameRegistry, JournalEntry, Project, Release


@pytest.fixture
def run(settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("WAREHOUSE_FILES_PATH", settings.files_path)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def published(webapp, auth_headers, tmp_path):
    wheel = make_wheel(tmp_path, "cliproj", "1.0")
    sdist = make_sdist(tmp_path, "cliproj", "1.0")
    post_upload(webapp, wheel, auth_headers)
    post_upload(webapp, sdist, auth_headers)
    post_upload(webapp, make_wheel(tmp_path, "cliproj", "2.0"), auth_headers)
    return wheel, sdist


def last_action(db_session) -> str:
    db_session.rollback()
    return db_session.scalar(sa.select(JournalEntry.action).order_by(JournalEntry.id.desc()))


def test_yank_and_unyank(run, published, db_session, webapp):
    result = run("project", "yank", "CLIProj", "1.0", "--reason", "broken", "--by", "alice")
    assert result.exit_code == 0, result.output
    assert last_action(db_session) == "yank release"
    assert (
        db_session.scalar(sa.select(Release.yanked_reason).where(Release.version == "1.0"))
        == "broken"
    )
    # The read caches learn of it through the journal: the page shows it at once.
    assert 'data-yanked="broken"' in webapp.get("/simple/cliproj/").text
    assert run("project", "unyank", "cliproj", "1.0").exit_code == 0
    assert last_action(db_session) == "unyank release"


def test_delete_file_removes_the_blob_after_commit(run, published, db_session, settings):
    wheel, _ = published
    db_session.rollback()
    path = db_session.scalar(sa.select(File.path).where(File.filename == wheel.name))
    blob = Path(settings.files_path) / path
    assert blob.exists()
    assert run("project", "delete-file", wheel.name).exit_code == 0
    assert not blob.exists() and not Path(str(blob) + ".metadata").exists()
    assert last_action(db_session) == f"remove file {wheel.name}"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(FilenameRegistry)) == 3


def test_delete_release_and_project(run, published, db_session, settings):
    assert run("project", "delete-release", "cliproj", "2.0").exit_code == 0
    assert last_action(db_session) == "remove release"
    refused = run("project", "delete", "cliproj", "--confirm", "other")
    assert refused.exit_code == 1 and "does not match" in refused.output
    assert run("project", "delete", "cliproj", "--confirm", "CLIPROJ").exit_code == 0
    assert last_action(db_session) == "remove project"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Project)) == 0
    assert not any(p.is_file() for p in Path(settings.files_path).rglob("*"))


def test_unknown_names_are_reported(run, clean_database):
    result = run("project", "yank", "nope", "1.0")
    assert result.exit_code == 1 and "no project named 'nope'" in result.output
