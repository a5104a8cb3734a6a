"""bench/pypi_shape.py at a tiny scale: what it loads is consistent and the read paths serve it."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

BENCH = Path(__file__).resolve().parents[3] / "bench" / "pypi_shape.py"


@pytest.fixture(scope="module")
def pypi_shape():
    spec = importlib.util.spec_from_file_location("pypi_shape", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def schema(connection) -> set[tuple[str, str]]:
    indexes = connection.execute(
        sa.text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    ).all()
    constraints = connection.execute(
        sa.text("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint")
    ).all()
    return {tuple(row) for row in indexes} | {tuple(row) for row in constraints}


def test_the_plan_is_deterministic_and_hits_the_file_target(pypi_shape):
    first = [(name, shape.releases) for _, name, shape in pypi_shape.Plan(300, 4_000, 7).projects()]
    again = [(name, shape.releases) for _, name, shape in pypi_shape.Plan(300, 4_000, 7).projects()]
    other = [(name, shape.releases) for _, name, shape in pypi_shape.Plan(300, 4_000, 8).projects()]
    assert first == again != other
    normalized = {pypi_shape.normalize(name) for name, _ in first}
    assert len(normalized) == 300
    total = sum(
        pypi_shape.files_of(shape) for _, _, shape in pypi_shape.Plan(300, 4_000, 7).projects()
    )
    assert abs(total - 4_000) < 4_000 * 0.02


def test_a_tiny_load_is_consistent_and_served(pypi_shape, webapp, rpc, clean_database):
    with clean_database.connect() as connection:
        before = schema(connection)

    pypi_shape.load(clean_database.url.render_as_string(hide_password=False), 40, 300, seed=3)

    with clean_database.connect() as connection:
        assert schema(connection) == before  # every key and index dropped for the load is back
        count = lambda sql: connection.scalar(sa.text(sql))  # noqa: E731
        projects, releases, files = (
            count(f"SELECT count(*) FROM {t}") for t in ("projects", "releases", "release_files")
        )
        assert projects == 40
        assert abs(files - 300) < 30
        assert count("SELECT count(*) FROM file_registry") == files
        assert count("SELECT count(*) FROM journals") == projects + releases + files
        assert count("SELECT max(id) FROM journals") == projects + releases + files
        assert count("SELECT count(*) FROM project_search") == projects
        assert count("SELECT count(*) FROM root_listing_chunks") > 0
        assert (
            count(
                "SELECT count(*) FROM projects p WHERE last_serial <> "
                "(SELECT max(id) FROM journals j WHERE j.name = p.name)"
            )
            == 0
        )
        assert (
            count(
                "SELECT count(*) FROM projects p WHERE total_size <> (SELECT sum(f.size) FROM "
                "release_files f JOIN releases r ON r.id = f.release_id WHERE r.project_id = p.id)"
            )
            == 0
        )
        assert (
            count(
                "SELECT count(*) FROM release_files WHERE (packagetype = 'bdist_wheel') "
                "<> (metadata_sha256 IS NOT NULL)"
            )
            == 0
        )
        botocore_files = count(
            "SELECT count(*) FROM release_files f JOIN releases r ON r.id = f.release_id "
            "JOIN projects p ON p.id = r.project_id WHERE p.name = 'botocore'"
        )
        newest = connection.execute(
            sa.text(
                "SELECT r.version FROM releases r JOIN projects p ON p.id = r.project_id "
                "WHERE p.name = 'botocore' ORDER BY r.sort_order DESC LIMIT 1"
            )
        ).scalar_one()

    page = webapp.get("/simple/botocore/")
    assert len(re.findall(r"<a href=", page.text)) == botocore_files
    assert "data-dist-info-metadata" in page.text  # the wheels' .metadata digests

    root = webapp.get("/simple/")
    assert len(re.findall(r"<a href=", root.text)) == projects  # from the chunks just built

    info = webapp.get("/pypi/botocore/json").json
    assert info["info"]["version"] == newest

    listed = rpc.list_packages_with_serial()
    assert len(listed) == projects
    assert max(listed.values()) == projects + releases + files
    changes = rpc.changelog_since_serial(files)
    assert [row[4] for row in changes] == list(range(files + 1, projects + releases + files + 1))
