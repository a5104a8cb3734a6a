"""``warehouse upstream`` against the test database, a static folder as the upstream."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.functional.upstreams.conftest import StaticFolder
from tests.support.artifacts import make_sdist
from warehouse.cli import main
from warehouse.packaging.models import Project
from warehouse.upstreams import secrets
from warehouse.upstreams.models import Upstream, UpstreamAllowance


@pytest.fixture
def run(database_url, redis_server, clean_database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_server.url())
    monkeypatch.setenv("WAREHOUSE_FILES_PATH", str(tmp_path / "files"))

    def invoke(*args: str, input=None):
        return CliRunner().invoke(main, list(args), catch_exceptions=False, input=input)

    return invoke


def test_add_list_allow_remove(run, db_session, tmp_path):
    config = tmp_path / "bandersnatch.conf"
    config.write_text("[mirror]\ndirectory = /srv\n[plugins]\nenabled = blocklist_project\n")
    result = run(
        "upstream",
        "add",
        "corp",
        "https://corp.example/simple",
        "--policy",
        "immediate",
        "--bandersnatch-config",
        str(config),
        "--page-ttl",
        "60",
        "--username",
        "ci",
        "--password",
        "hunter2",
    )
    assert result.exit_code == 0, result.output
    upstream = db_session.scalar(sa.select(Upstream))
    assert (upstream.url, upstream.policy, upstream.page_ttl) == (
        "https://corp.example/simple/",
        "immediate",
        60,
    )
    assert upstream.bandersnatch_config == config.read_text()
    # Encrypted at rest, and readable with the configured key.
    assert "hunter2" not in upstream.password_encrypted
    from warehouse.settings import Settings

    assert secrets.decrypt(Settings(), upstream.password_encrypted) == "hunter2"

    listed = run("upstream", "list").output
    assert "corp\thttps://corp.example/simple/\timmediate" in listed
    assert run("upstream", "allow", "corp", "My_Lib").output == "My_Lib allowed from corp\n"
    assert db_session.scalar(sa.select(UpstreamAllowance.normalized_name)) == "my-lib"
    assert "already" in run("upstream", "allow", "corp", "my-lib").output

    result = run("upstream", "remove", "corp", "--yes")
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Upstream)) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name!", "https://x/simple/"], "not a valid upstream name"),
        (["x", "ftp://x/simple/"], "is not an http(s) URL"),
        (["x", "https://x/simple/", "--page-ttl", "-1"], "--page-ttl must be"),
    ],
)
def test_add_refuses_bad_input_with_a_sentence(run, args, message):
    result = run("upstream", "add", *args)
    assert result.exit_code == 1 and message in result.output


def test_add_refuses_a_broken_bandersnatch_config(run, tmp_path, db_session):
    config = tmp_path / "b.conf"
    config.write_text("[plugins]\nenabled = regex_project\n[filter_regex]\npackages =\n    (\n")
    result = run("upstream", "add", "x", "https://x/simple/", "--bandersnatch-config", str(config))
    assert result.exit_code == 1 and "invalid regular expression" in result.output
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Upstream)) == 0


def test_add_twice_and_unknown_names(run):
    assert run("upstream", "add", "x", "https://x/simple/").exit_code == 0
    assert "exists already" in run("upstream", "add", "x", "https://y/simple/").output
    assert "no upstream named 'nope'" in run("upstream", "sync", "nope").output


def test_netrc_credentials(run, tmp_path, db_session):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine corp.example login robot password s3cret\n")
    netrc.chmod(0o600)
    result = run(
        "upstream",
        "add",
        "corp",
        "https://corp.example/simple/",
        "--netrc",
        "--netrc-file",
        str(netrc),
    )
    assert result.exit_code == 0, result.output
    assert db_session.scalar(sa.select(Upstream.username)) == "robot"


def test_sync_refreshes_a_static_folder_and_reports_an_unreachable_one(run, tmp_path, db_session):
    folder = StaticFolder(tmp_path / "static").start()
    try:
        folder.add("cli-demo", make_sdist(tmp_path, "cli-demo", "1.0"))
        run("upstream", "add", "static", folder.simple_url)
        result = run("upstream", "sync", "static")
        # No serials: nothing is mirrored until a client asks for a name.
        assert result.exit_code == 0, result.output
        assert "0 projects synced" in result.output
    finally:
        folder.stop()
    result = run("upstream", "sync", "static")
    assert result.exit_code == 1 and "cannot be reached" in result.output
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Project)) == 0
