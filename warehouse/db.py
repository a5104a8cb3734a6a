"""The database: model base, engine, and one session per request joined to pyramid_tm."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import sqlalchemy as sa
import structlog
import zope.sqlalchemy
from sqlalchemy import event, orm
from sqlalchemy.dialects import postgresql

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

log = structlog.get_logger(__name__)

# Where a session keeps the Redis client and the task context (stores, settings) that the
# reactions to its commits use (see warehouse.effects and warehouse.tasks.TaskContext).
REDIS_INFO_KEY = "warehouse.redis"
CONTEXT_INFO_KEY = "warehouse.task_context"
_AFTER_COMMIT = "warehouse.db.after_commit"
_AFTER_ROLLBACK = "warehouse.db.after_rollback"
_COMMITTED = "warehouse.db.committed"

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Model(orm.DeclarativeBase):
    metadata = metadata
    type_annotation_map = {
        datetime.datetime: sa.DateTime(timezone=True),
        list[str]: postgresql.ARRAY(sa.Text()),
    }


def create_engine(url: str, **kwargs) -> sa.Engine:
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def driver_connection(session: orm.Session):
    """The psycopg connection under the session, in the session's transaction. Big reads and
    writes go to it straight (COPY, rows as plain tuples, bytes in binary): SQLAlchemy's
    per-row processing costs more than PostgreSQL's answer for tens of thousands of rows."""
    return session.connection().connection.driver_connection


def make_session_factory(engine: sa.Engine) -> orm.sessionmaker[orm.Session]:
    """The one way sessions are made: each journals its changes and reacts to its commits."""
    factory = orm.sessionmaker(bind=engine, expire_on_commit=False)
    # Imported here, not above: the reactions reach into every domain, and they all import
    # this module for the model base.
    from warehouse import effects

    effects.attach(factory)
    # After the reactions: callbacks added during the transaction (tasks to send, blobs of a
    # failed upload to remove).
    event.listen(factory, "after_commit", _run_after_commit)
    event.listen(factory, "after_transaction_end", _run_after_rollback)
    return factory


def after_commit(session: orm.Session, callback: Callable[[], object]) -> None:
    """Call ``callback()`` once the session's current transaction commits; never on rollback."""
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def after_rollback(session: orm.Session, callback: Callable[[], object]) -> None:
    """Call ``callback()`` if the session's current transaction ends without committing."""
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


def running_after_commit(session: orm.Session) -> bool:
    """Whether the session's transaction is over and its after-commit callbacks are running."""
    return bool(session.info.get(_COMMITTED))


def _run_callbacks(callbacks, what: str) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the transaction's outcome stands; log and go on
            log.exception(f"{what} callback failed", callback=repr(callback))


def _run_after_commit(session: orm.Session) -> None:
    session.info.pop(_AFTER_ROLLBACK, None)
    callbacks = session.info.pop(_AFTER_COMMIT, ())
    # Tasks these callbacks send go at once: the transaction they would wait for is over.
    session.info[_COMMITTED] = True
    try:
        _run_callbacks(callbacks, "after-commit")
    finally:
        session.info.pop(_COMMITTED, None)


def _run_after_rollback(session: orm.Session, transaction) -> None:
    # Fires after after_commit, which took its own callbacks: whatever is left belongs to a
    # transaction that rolled back (or was closed without committing).
    if transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)
        _run_callbacks(session.info.pop(_AFTER_ROLLBACK, ()), "after-rollback")


def _request_session(request) -> orm.Session:
    session = request.registry["db.session_factory"]()
    # The reactions to its commits (cache invalidation) reach Redis through the session.
    session.info[REDIS_INFO_KEY] = request.registry.get("redis.client")
    # The session commits or rolls back with the request's transaction (pyramid_tm).
    zope.sqlalchemy.register(session, transaction_manager=request.tm)

    def close(_request):
        session.close()

    request.add_finished_callback(close)
    return session


def includeme(config) -> None:
    settings = config.registry.settings["warehouse"]
    engine = config.registry.get("db.engine")
    if engine is None:
        engine = create_engine(settings.database_url)
        config.registry["db.engine"] = engine
    config.registry["db.session_factory"] = make_session_factory(engine)
    config.add_request_method(_request_session, name="db", reify=True)
