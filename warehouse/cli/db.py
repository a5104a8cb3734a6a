"""``warehouse db``: schema migrations with Alembic."""

from __future__ import annotations

import click
from alembic import command
from alembic.config import Config

from warehouse.cli.context import load_settings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    # A package resource, so the migrations travel with the installed package (the image has no
    # checkout beside it).
    config.set_main_option("script_location", "warehouse:migrations")
    config.set_main_option("sqlalchemy.url", database_url or load_settings().database_url)
    return config


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command()
@click.argument("revision", default="heads")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    command.upgrade(alembic_config(), revision)


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (for example -1)."""
    command.downgrade(alembic_config(), revision)


@db.command()
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate/--empty", default=True, help="Compare the models with the database.")
def revision(message: str, autogenerate: bool) -> None:
    """Write a new migration."""
    command.revision(alembic_config(), message=message, autogenerate=autogenerate)


@db.command()
def current() -> None:
    """Show the revision the database is at."""
    command.current(alembic_config(), verbose=True)
