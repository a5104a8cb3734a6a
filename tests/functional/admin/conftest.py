"""The whole site (real mail to aiosmtpd), an admin with TOTP, and helpers to act as them."""

from __future__ import annotations

import base64
import datetime
import html
import time
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.functional.accounts.conftest import (
    PASSWORD,
    build_app,
    form_for,
    log_in,
    make_site,
    site,
    text_of,
)
from tests.support import factories, mail
from tests.support.fixtures import basic_auth
from warehouse.accounts.models import User
from warehouse.packaging.models import Project, Role

smtp_server_session = mail.smtp_server_session
smtp_server = mail.smtp_server

__all__ = ["PASSWORD", "basic_auth", "build_app", "form_for", "log_in", "make_site", "site"]
__all__ += ["text_of"]

TOTP_SECRET = b"admin-totp-secret-20b"


def totp_code() -> str:
    return pyotp.TOTP(base64.b32encode(TOTP_SECRET).decode()).at(time.time())


def log_in_with_totp(app, username: str) -> None:
    log_in(app, username)
    form = form_for(app.get("/account/two-factor/"), "/account/two-factor/")
    form["totp_value"] = totp_code()
    form.submit(status=303)


@pytest.fixture
def admin_user(make_user, db_session):
    user = make_user("root")
    user.is_superuser = True
    user.totp_secret = TOTP_SECRET
    db_session.commit()
    return user


@pytest.fixture
def admin_site(site, admin_user):
    """The site, logged in as the admin ``root`` (password, then TOTP)."""
    log_in_with_totp(site, "root")
    return site


@pytest.fixture
def demo(db_session, make_user, settings):
    """``demo`` 1.0 (an sdist and a wheel, blobs on disk), owned by alice; created a week ago."""
    alice = make_user("alice")
    project = factories.create_project(db_session, "demo", versions=("1.0",))
    project.created = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=7)
    db_session.add(Role(user_id=alice.id, project_id=project.id, role_name="Owner"))
    db_session.commit()
    for file in project.releases[0].files:
        blob = Path(settings.files_path) / file.path
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(f"contents of {file.filename}".encode())
    return project


def file_paths(project) -> list[str]:
    return [f"/packages/{file.path}" for release in project.releases for file in release.files]


def said(page, sentence: str) -> bool:
    """Whether the page's visible text carries ``sentence``."""
    return sentence in html.unescape(text_of(page))


def assert_private(response) -> None:
    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= directives, response.headers["Cache-Control"]
    assert "Surrogate-Control" not in response.headers


def fresh(db_session, model, **where):
    db_session.rollback()
    query = sa.select(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db_session.scalar(query)


def project_named(db_session, name: str) -> Project | None:
    return fresh(db_session, Project, normalized_name=name)


def user_named(db_session, name: str) -> User | None:
    return fresh(db_session, User, username=name)


@pytest.fixture
def cli(database_url, clean_database, redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_server.url())
    monkeypatch.setenv("USER", "operator")

    def invoke(*args: str, status: int = 0):
        from warehouse.cli import main

        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == status, result.output
        return result

    return invoke
