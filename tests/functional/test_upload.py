"""POST /legacy/ through the whole app on a real database: every rule of the upload API."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
import webtest

from tests.support.artifacts import form_fields_for, make_sdist, make_wheel
from tests.support.fixtures import basic_auth
from warehouse.config import configure, wsgi_app
from warehouse.packaging.models import (
    File,
    FilenameRegistry,
    JournalEntry,
    Project,
    Release,
    Role,
)
from warehouse.settings import RateLimit


def post_upload(
    app, path: Path, headers, *, status=200, fields=None, content_type=None, **overrides
):
    name = overrides.pop("name", None) or path.name.split("-")[0]
    version = overrides.pop("version", None) or path.name.split("-")[1].removesuffix(".tar.gz")
    fields = fields or form_fields_for(path, name, version, **overrides)
    params = [(key, value) for key, values in fields.items() for value in values]
    upload = (
        webtest.Upload(path.name, path.read_bytes(), content_type)
        if content_type
        else webtest.Upload(path.name, path.read_bytes())
    )
    return app.post(
        "/legacy/", params=params + [("content", upload)], headers=headers, status=status
    )


def count(db_session, model) -> int:
    db_session.rollback()  # see what the app committed
    return db_session.scalar(sa.select(sa.func.count()).select_from(model))


def stored_blobs(settings) -> list[str]:
    root = Path(settings.files_path)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def make_app(settings, clean_database, redis_client):
    def make(**overrides) -> webtest.TestApp:
        config = configure(
            settings.replace(**overrides),
            **{"db.engine": clean_database, "redis.client": redis_client},
        )
        return webtest.TestApp(wsgi_app(config))

    return make


# --- The happy path ------------------------------------------------------------------


def test_wheel_and_sdist_create_project_release_files_and_journal(
    webapp, auth_headers, tmp_path, db_session, settings, user
):
    wheel = make_wheel(tmp_path, "Demo_Pkg", "1.0", requires_dist=["requests>=2"])
    sdist = make_sdist(tmp_path, "Demo_Pkg", "1.0")
    response = post_upload(webapp, wheel, auth_headers, name="Demo_Pkg", version="1.0")
    assert response.text.strip() == "OK"
    post_upload(webapp, sdist, auth_headers, name="Demo_Pkg", version="1.0")

    db_session.rollback()
    project = db_session.scalar(sa.select(Project))
    assert (project.name, project.normalized_name) == ("Demo-Pkg", "demo-pkg")
    release = db_session.scalar(sa.select(Release))
    assert release.version == "1.0"
    assert [d.specifier for d in release.dependencies] == ["requests>=2"]
    files = {f.packagetype: f for f in db_session.scalars(sa.select(File))}
    assert set(files) == {"bdist_wheel", "sdist"}
    wheel_row = files["bdist_wheel"]
    assert wheel_row.sha256_digest == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert wheel_row.size == wheel.stat().st_size
    assert wheel_row.python_version == "py3"
    assert wheel_row.metadata_sha256 and files["sdist"].metadata_sha256 is None
    assert project.total_size == wheel.stat().st_size + sdist.stat().st_size
    assert db_session.scalar(sa.select(Role.role_name)) == "Owner"

    actions = db_session.scalars(sa.select(JournalEntry.action).order_by(JournalEntry.id)).all()
    assert actions == [
        "create",
        "add Owner alice",
        "new release",
        f"add bdist_wheel file {wheel.name}",
        f"add sdist file {sdist.name}",
    ]
    assert project.last_serial == 5
    assert stored_blobs(settings) == sorted(
        [wheel_row.path, wheel_row.path + ".metadata", files["sdist"].path]
    )


def test_uv_style_request_with_text_plain_file_part_and_shuffled_fields(
    webapp, auth_headers, tmp_path, db_session
):
    wheel = make_wheel(tmp_path, "uvpkg", "0.1")
    fields = form_fields_for(wheel, "uvpkg", "0.1")
    shuffled = dict(reversed(list(fields.items())))
    post_upload(webapp, wheel, auth_headers, fields=shuffled, content_type="text/plain")
    assert count(db_session, File) == 1


def test_second_release_reorders_versions(webapp, auth_headers, tmp_path, db_session):
    for version in ["1.10", "1.9", "2.0b1"]:
        post_upload(webapp, make_wheel(tmp_path, "ordered", version), auth_headers, version=version)
    db_session.rollback()
    versions = db_session.scalars(sa.select(Release.version).order_by(Release.sort_order)).all()
    assert versions == ["1.9", "1.10", "2.0b1"]
    assert db_session.scalar(sa.select(Release.is_prerelease).where(Release.version == "2.0b1"))


# --- Authentication and permission ----------------------------------------------------


def test_upload_without_credentials_is_403(webapp, tmp_path):
    response = post_upload(webapp, make_wheel(tmp_path, "anon", "1.0"), {}, status=403)
    assert "Invalid or non-existent authentication information" in response.status


def test_password_authentication_is_refused_with_a_pointer_to_tokens(webapp, tmp_path, user):
    headers = basic_auth("alice", "correct horse battery")
    response = post_upload(webapp, make_wheel(tmp_path, "pw", "1.0"), headers, status=403)
    assert "Migrate to API Tokens" in response.status


def test_invalid_token_is_403(webapp, tmp_path):
    headers = basic_auth("__token__", "pypi-garbage")
    response = post_upload(webapp, make_wheel(tmp_path, "bad", "1.0"), headers, status=403)
    assert "Invalid API Token" in response.status


def test_project_scoped_token_limits_uploads(webapp, tmp_path, user, make_token, auth_headers):
    post_upload(webapp, make_wheel(tmp_path, "mine", "1.0"), auth_headers)
    post_upload(webapp, make_wheel(tmp_path, "theirs", "1.0"), auth_headers)
    scoped = basic_auth("__token__", make_token(user, projects=["mine"]))
    post_upload(webapp, make_wheel(tmp_path, "mine", "2.0"), scoped)
    refused = post_upload(webapp, make_wheel(tmp_path, "theirs", "2.0"), scoped, status=403)
    assert "isn't allowed to upload to project 'theirs'" in refused.status
    new = post_upload(webapp, make_wheel(tmp_path, "brandnew", "1.0"), scoped, status=403)
    assert "scoped to projects" in new.status


def test_other_users_cannot_upload_to_my_project(
    webapp, tmp_path, auth_headers, make_user, make_token
):
    post_upload(webapp, make_wheel(tmp_path, "owned", "1.0"), auth_headers)
    mallory = make_user("mallory")
    headers = basic_auth("__token__", make_token(mallory))
    response = post_upload(webapp, make_wheel(tmp_path, "owned", "1.1"), headers, status=403)
    assert "The user 'mallory' isn't allowed to upload to project 'owned'" in response.status


def test_unverified_email_cannot_upload_when_required(make_app, tmp_path, make_user, make_token):
    user = make_user("newbie", email_verified=False)
    app = make_app(require_verified_email=True)
    headers = basic_auth("__token__", make_token(user))
    response = post_upload(app, make_wheel(tmp_path, "x1", "1.0"), headers, status=400)
    assert "does not have a verified primary email address" in response.status


def test_two_factor_required_setting(make_app, tmp_path, auth_headers):
    app = make_app(require_2fa=True)
    response = post_upload(app, make_wheel(tmp_path, "x2", "1.0"), auth_headers, status=400)
    assert "two-factor authentication" in response.status


# --- Form and protocol ----------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({":action": "submit"}, "Unknown action"),
        ({"protocol_version": "2"}, "protocol"),
        ({"metadata_version": "3.0"}, "metadata"),
        ({"filetype": "bdist_egg"}, "filetype"),
        ({"sha256_digest": "0" * 64}, "digest"),
        ({"md5_digest": "0" * 32}, "digest"),
        ({"version": "1.0+local"}, "local versions"),
        ({"version": "not a version"}, "version"),
        ({"classifiers": "Made Up :: Classifier"}, "Classifier"),
    ],
)
def test_bad_form_fields_are_400_with_a_message(
    webapp, auth_headers, tmp_path, db_session, settings, overrides, message
):
    wheel = make_wheel(tmp_path, "formtest", "1.0")
    fields = form_fields_for(wheel, "formtest", "1.0")
    fields.update({key: [value] for key, value in overrides.items()})
    response = post_upload(webapp, wheel, auth_headers, fields=fields, status=400)
    assert message.lower() in response.status.lower()
    assert response.text.strip() == response.status.split(" ", 1)[1]
    assert count(db_session, Project) == 0
    assert stored_blobs(settings) == []


def test_missing_file_part_is_400(webapp, auth_headers, tmp_path):
    wheel = make_wheel(tmp_path, "nofile", "1.0")
    fields = form_fields_for(wheel, "nofile", "1.0")
    params = [(k, v) for k, vs in fields.items() for v in vs]
    response = webapp.post("/legacy/", params=params, headers=auth_headers, status=400)
    assert "does not have a file" in response.status


def test_filename_must_match_name_and_version(webapp, auth_headers, tmp_path):
    wheel = make_wheel(tmp_path, "righty", "1.0")
    response = post_upload(webapp, wheel, auth_headers, name="lefty", status=400)
    assert "lefty" in response.status
    response = post_upload(webapp, wheel, auth_headers, version="1.1", status=400)
    assert "1.1" in response.status


def test_metadata_in_the_file_must_agree_with_the_form(webapp, auth_headers, tmp_path):
    wheel = make_wheel(tmp_path, "agree", "1.0", requires_python=">=3.8")
    fields = form_fields_for(wheel, "agree", "1.0", requires_python=">=3.10")
    response = post_upload(webapp, wheel, auth_headers, fields=fields, status=400)
    assert "requires" in response.status.lower()


def test_description_that_does_not_render_is_refused(webapp, auth_headers, tmp_path):
    wheel = make_wheel(tmp_path, "docs", "1.0")
    fields = form_fields_for(
        wheel,
        "docs",
        "1.0",
        description="Title\n===\n\n.. bogus-directive::\n\n`unclosed",
        description_content_type="text/x-rst",
    )
    response = post_upload(webapp, wheel, auth_headers, fields=fields, status=400)
    assert "failed to render" in response.status


def test_markdown_description_is_rendered_and_sanitized(webapp, auth_headers, tmp_path, db_session):
    wheel = make_wheel(tmp_path, "mdpkg", "1.0")
    fields = form_fields_for(
        wheel,
        "mdpkg",
        "1.0",
        description="# Hi\n\n<script>alert(1)</script>\n\n**bold**",
        description_content_type="text/markdown",
    )
    post_upload(webapp, wheel, auth_headers, fields=fields)
    db_session.rollback()
    html = db_session.scalar(sa.select(Release.description_html))
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html


def test_unsupported_platform_tag_is_refused(webapp, auth_headers, tmp_path):
    wheel = make_wheel(
        tmp_path, "plat", "1.0", platform_tag="linux_x86_64", abi_tag="cp311", python_tag="cp311"
    )
    response = post_upload(webapp, wheel, auth_headers, status=400)
    assert "linux_x86_64" in response.status


def test_zip_bomb_is_refused_and_leaves_nothing(
    webapp, auth_headers, tmp_path, db_session, settings
):
    wheel = make_wheel(tmp_path, "bomb", "1.0")
    with zipfile.ZipFile(wheel, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/zeros.bin", b"\0" * (64 * 1024 * 1024))
    response = post_upload(webapp, wheel, auth_headers, status=400)
    assert response.status_int == 400
    assert count(db_session, Project) == 0 and stored_blobs(settings) == []


def test_corrupt_archive_is_refused(webapp, auth_headers, tmp_path):
    wheel = make_wheel(tmp_path, "broken", "1.0")
    fields = form_fields_for(wheel, "broken", "1.0")
    wheel.write_bytes(wheel.read_bytes()[:200])
    fields["sha256_digest"] = [hashlib.sha256(wheel.read_bytes()).hexdigest()]
    fields["blake2_256_digest"] = [hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest()]
    response = post_upload(webapp, wheel, auth_headers, fields=fields, status=400)
    assert "broken" in response.status.lower() or "invalid" in response.status.lower()


# --- Filenames, duplicates and limits ---------------------------------------------------


def test_identical_reupload_is_ok_and_changes_nothing(webapp, auth_headers, tmp_path, db_session):
    wheel = make_wheel(tmp_path, "again", "1.0")
    post_upload(webapp, wheel, auth_headers)
    serial = count(db_session, JournalEntry)
    post_upload(webapp, wheel, auth_headers)
    assert count(db_session, JournalEntry) == serial
    assert count(db_session, File) == 1


def test_same_filename_with_other_bytes_is_refused(webapp, auth_headers, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_wheel(tmp_path / "a", "clash", "1.0")
    other = make_wheel(tmp_path / "b", "clash", "1.0", extra_files={"clash/extra.py": "x = 1\n"})
    assert first.name == other.name
    post_upload(webapp, first, auth_headers)
    response = post_upload(webapp, other, auth_headers, status=400)
    assert "File already exists" in response.status


def test_filename_of_a_deleted_file_cannot_be_reused(webapp, auth_headers, tmp_path, db_session):
    wheel = make_wheel(tmp_path, "gone", "1.0")
    post_upload(webapp, wheel, auth_headers)
    db_session.rollback()
    db_session.execute(sa.delete(File))
    db_session.commit()
    response = post_upload(webapp, wheel, auth_headers, status=400)
    assert "filename has already been used" in response.status
    assert count(db_session, FilenameRegistry) == 1


def test_only_one_sdist_per_release(webapp, auth_headers, tmp_path):
    post_upload(webapp, make_sdist(tmp_path, "onesdist", "1.0"), auth_headers)
    zipped = make_sdist(tmp_path, "onesdist", "1.0", extension=".zip")
    response = post_upload(webapp, zipped, auth_headers, version="1.0", status=400)
    assert "Only one sdist" in response.status


def test_file_size_limit_and_per_project_override(make_app, auth_headers, tmp_path, db_session):
    big = make_wheel(tmp_path, "big", "1.0", extra_files={"big/data.bin": os.urandom(10_000)})
    app = make_app(max_file_size=4096)
    response = post_upload(app, big, auth_headers, status=413)
    assert "File too large" in response.status
    (tmp_path / "s").mkdir()
    post_upload(app, make_wheel(tmp_path / "s", "big", "0.1"), auth_headers)
    db_session.rollback()
    db_session.execute(sa.update(Project).values(upload_limit=1024 * 1024))
    db_session.commit()
    post_upload(app, big, auth_headers)


def test_project_total_size_limit(make_app, auth_headers, tmp_path):
    app = make_app(max_project_size=3000)
    post_upload(app, make_wheel(tmp_path, "total", "1.0"), auth_headers)
    padded = make_wheel(tmp_path, "total", "2.0", extra_files={"total/pad.bin": os.urandom(3000)})
    response = post_upload(app, padded, auth_headers, status=400)
    assert "Project size too large" in response.status


def test_upload_rate_limit(make_app, auth_headers, tmp_path):
    app = make_app(upload_ratelimit=RateLimit(2, 3600))
    post_upload(app, make_wheel(tmp_path, "rl", "1"), auth_headers)
    post_upload(app, make_wheel(tmp_path, "rl", "2"), auth_headers)
    response = post_upload(app, make_wheel(tmp_path, "rl", "3"), auth_headers, status=429)
    assert "Too many uploads" in response.status


def test_new_project_rate_limit(make_app, auth_headers, tmp_path):
    app = make_app(new_project_ratelimit=RateLimit(1, 3600))
    post_upload(app, make_wheel(tmp_path, "first", "1"), auth_headers)
    post_upload(app, make_wheel(tmp_path, "first", "2"), auth_headers)  # not a new project
    response = post_upload(app, make_wheel(tmp_path, "second", "1"), auth_headers, status=429)
    assert "Too many new projects" in response.status


@pytest.mark.parametrize("name", ["os", "pypi"])
def test_reserved_project_names(webapp, auth_headers, tmp_path, name):
    response = post_upload(webapp, make_wheel(tmp_path, name, "1.0"), auth_headers, status=400)
    assert "isn't allowed" in response.status


def test_confusable_new_project_name(webapp, auth_headers, tmp_path):
    post_upload(webapp, make_wheel(tmp_path, "hello_world", "1.0"), auth_headers)
    response = post_upload(
        webapp, make_wheel(tmp_path, "he11oworld", "1.0"), auth_headers, status=400
    )
    assert "too similar" in response.status


def test_upload_endpoint_answers_get_with_405(webapp):
    response = webapp.get("/legacy/", status=405)
    assert response.headers["Allow"] == "POST"


def test_failed_commit_removes_the_stored_blob(
    make_app, auth_headers, tmp_path, settings, monkeypatch
):
    """The blob is written before the commit; a commit that fails must not leave it behind."""
    import transaction

    app = make_app()
    real_commit = transaction.TransactionManager.commit

    def failing_commit(self):
        self.get().addBeforeCommitHook(_raise)
        return real_commit(self)

    def _raise():
        raise RuntimeError("database went away")

    monkeypatch.setattr(transaction.TransactionManager, "commit", failing_commit)
    with pytest.raises(RuntimeError, match="database went away"):
        post_upload(app, make_wheel(tmp_path, "doomed", "1.0"), auth_headers)
    assert stored_blobs(settings) == []


def test_artifact_read_from_an_in_memory_stream(tmp_path):
    # Sanity check of the helper the tests rely on: the wheel is a valid zip.
    wheel = make_wheel(tmp_path, "helper", "1.0")
    assert zipfile.ZipFile(io.BytesIO(wheel.read_bytes())).testzip() is None


def test_an_upload_is_on_the_simple_page_at_once(webapp, auth_headers, tmp_path):
    """The read caches learn of the change from the journal entry; no call site has to."""
    post_upload(webapp, make_wheel(tmp_path, "fresh", "1.0"), auth_headers)
    first = webapp.get("/simple/fresh/")
    assert "fresh-1.0-py3-none-any.whl" in first.text
    post_upload(webapp, make_wheel(tmp_path, "fresh", "2.0"), auth_headers)
    second = webapp.get("/simple/fresh/")
    assert "fresh-2.0-py3-none-any.whl" in second.text
    assert int(second.headers["X-PyPI-Last-Serial"]) > int(first.headers["X-PyPI-Last-Serial"])
    assert "fresh" in webapp.get("/simple/").text
