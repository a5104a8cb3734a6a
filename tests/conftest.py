"""Shared fixtures: real PostgreSQL and Redis, started once per test process.

Every pytest-xdist worker runs its own throwaway PostgreSQL cluster and Redis server (about a
second to start), so workers never see each other's rows. Between tests the tables are
truncated and Redis is flushed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
import webtest
from _pytest.nodeid import coerce_node_id

from devstack.services import Postgres, Redis, free_port
from warehouse import db as database
from warehouse.cli.db import alembic_config
from warehouse.settings import Settings

pytest_plugins = ["tests.support.fixtures", "tests.support.seaweedfs", "tests.support.live_server"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Tests marked xdist_group("e2e"), ("interop") or ("faults") share one stack of processes
    # each, started once by the worker that runs the group. pytest-xdist 3.8 marks a group by
    # setting item._nodeid to "<id>@<group>", which pytest 9 no longer reads (it keeps the id
    # in item._id): without this, --dist loadgroup spreads a group over every worker and each
    # worker starts its own stack of PostgreSQL, Redis, SeaweedFS, Varnish, gunicorn, Celery.
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        grouped = getattr(item, "_nodeid", None)
        if grouped and "@" in grouped and grouped != item.nodeid:
            item._id = coerce_node_id(grouped)


@pytest.fixture(scope="session")
def service_root():
    # Not under pytest's basetemp: that folder is private to root, and PostgreSQL runs as
    # the postgres user.
    root = Path(tempfile.mkdtemp(prefix="warehouse-test-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(service_root):
    server = Postgres(service_root / "postgres", free_port(), fast_and_unsafe=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(service_root):
    server = Redis(service_root / "redis", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres):
    postgres.create_database("warehouse")
    url = postgres.url("warehouse")
    from alembic import command

    command.upgrade(alembic_config(url), "heads")
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = database.create_engine(database_url, pool_size=5, max_overflow=20)
    yield engine
    engine.dispose()


def _truncate_all(engine: sa.Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in database.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clean_database(engine):
    yield engine
    _truncate_all(engine)


@pytest.fixture
def db_session(clean_database):
    session = database.make_session_factory(clean_database)()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def redis_client(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url())
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def settings(database_url, redis_server, tmp_path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_server.url(),
        files_path=str(tmp_path / "files"),
        log_format="console",
        # Tests read mail as soon as a request returns; tests/unit/email covers the worker.
        email_via_worker=False,
    )


@pytest.fixture
def app_config(settings, clean_database, redis_client):
    from warehouse.config import configure

    return configure(settings, **{"db.engine": clean_database, "redis.client": redis_client})


@pytest.fixture
def webapp(app_config) -> webtest.TestApp:
    from warehouse.config import wsgi_app

    return webtest.TestApp(wsgi_app(app_config))
