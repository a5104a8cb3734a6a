"""What CLI commands share: settings and a database session outside any web request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
import transaction
import zope.sqlalchemy
from sqlalchemy import orm

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

    The session carries the same task context as the web's and the workers' (stores, Redis,
    the CDN purger), so its after-commit hooks do what they do there: blobs of deleted files
    are removed, read caches invalidated and the CDN purged, only once the change is
    committed. Commits when the block succeeds, aborts when it raises.
    """
    from warehouse.tasks import TaskContext

    context = TaskContext.from_settings(settings or load_settings())
    manager = transaction.TransactionManager(explicit=True)
    session = context.session_factory()
    zope.sqlalchemy.register(session, transaction_manager=manager)
    manager.begin()
    try:
        yield session, manager
        manager.commit()
    except BaseException:
        manager.abort()
        raise
    finally:
        session.close()
        context.engine.dispose()


@contextlib.contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[orm.Session]:
    with transaction_scope(settings) as (session, _):
        yield session
