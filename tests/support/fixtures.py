"""Fixtures for things most tests need: a user, an API token, basic-auth headers, a task
context."""

from __future__ import annotations

import base64

import pytest

from warehouse import db as database
from warehouse.accounts.services import DatabaseUserService
from warehouse.settings import Settings
from warehouse.tasks import TaskContext
from warehouse.tokens.services import DatabaseTokenService


def basic_auth(username: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


@pytest.fixture
def make_user(db_session):
    def make(username: str = "alice", password: str = "correct horse battery", **kwargs):
        kwargs.setdefault("email", f"{username}@example.com")
        kwargs.setdefault("email_verified", True)
        user = DatabaseUserService(db_session).create_user(username, password, **kwargs)
        db_session.commit()
        return user

    return make


@pytest.fixture
def make_token(db_session):
    def make(user, **kwargs) -> str:
        _, secret = DatabaseTokenService(db_session, Settings.secret_key).create(user, **kwargs)
        db_session.commit()
        return secret

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def token(user, make_token) -> str:
    return make_token(user)


@pytest.fixture
def auth_headers(token) -> dict[str, str]:
    return basic_auth("__token__", token)


@pytest.fixture
def task_context(settings, clean_database, redis_client):
    """``make(archive, cache=None, **settings_changes)``: the context a worker or the CLI has,
    with these stores (the archive alone: no separate cache). Sessions of its
    ``session_factory`` react to commits as theirs do."""

    def make(archive, cache=None, **settings_changes) -> TaskContext:
        return TaskContext(
            settings=settings.replace(**settings_changes) if settings_changes else settings,
            engine=clean_database,
            redis=redis_client,
            archive=archive,
            cache=archive if cache is None else cache,
            session_factory=database.make_session_factory(clean_database),
        )

    return make
