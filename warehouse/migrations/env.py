"""Alembic environment: migrations run against the URL the CLI puts in the config."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from warehouse.db import metadata
from warehouse.models import import_all

import_all()  # every table, for autogenerate

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            # Two processes migrating at once (several test workers, a deploy) take turns.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7243501)"))
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
