"""What CLI commands share: settings and a database session outside any web request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
import redis
import transaction
import zope.sqlalchemy
from sqlalchemy import orm

from warehouse import db as database
from warehouse.settings import Settings, SettingsError


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def transaction_scope(
    settings: Settings | None = None,
) -> Iterator[tuple[orm.Session, transaction.TransactionManager]]:
    """A session joined to its own transaction manager, as a web request's is.

    After-commit hooks therefore run as they do in the app: blobs of deleted files are removed
    and read caches invalidated only once the change is committed. Commits when the block
    succeeds, aborts when it raises.
    """
    settings = settings or load_settings()
    engine = database.create_engine(settings.database_url, pool_size=1, max_overflow=0)
    manager = transaction.TransactionManager(explicit=True)
    session = database.make_session_factory(engine)()
    zope.sqlalchemy.register(session, transaction_manager=manager)
    session.info[database.REDIS_INFO_KEY] = redis.Redis.from_url(
        settings.redis_url, socket_timeout=5, retry_on_timeout=False
    )
    manager.begin()
    try:
        yield session, manager
        manager.commit()
    except BaseException:
        manager.abort()
        raise
    finally:
        session.close()
        engine.dispose()


@contextlib.contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[orm.Session]:
    with transaction_scope(settings) as (session, _):
        yield session
