"""What CLI commands share: settings and a database session outside any web request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from sqlalchemy import orm

from warehouse import db as database
from warehouse.settings import Settings, SettingsError


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[orm.Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    settings = settings or load_settings()
    engine = database.create_engine(settings.database_url, pool_size=1, max_overflow=0)
    session = database.make_session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        engine.dispose()
