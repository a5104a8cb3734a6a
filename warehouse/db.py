"""The database: model base, engine, and one session per request joined to pyramid_tm."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
import zope.sqlalchemy
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

# Where a session keeps the Redis client that its after-commit hooks may use.
REDIS_INFO_KEY = "warehouse.redis"

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


def make_session_factory(engine: sa.Engine) -> orm.sessionmaker[orm.Session]:
    return orm.sessionmaker(bind=engine, expire_on_commit=False)


def _request_session(request) -> orm.Session:
    session = request.registry["db.session_factory"]()
    # Commit hooks (cache invalidation) reach Redis through the session.
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
