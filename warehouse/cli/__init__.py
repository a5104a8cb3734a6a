"""The ``warehouse`` command: database, users, tokens and maintenance jobs."""

from __future__ import annotations

import click

from warehouse.cli.admin import admin, names
from warehouse.cli.db import db
from warehouse.cli.mirror import mirror_verify
from warehouse.cli.projects import project

# Imported under other names: binding `queues` or `search` here would hide the submodules.
from warehouse.cli.queues import queues as queues_group
from warehouse.cli.scan import scan as scan_group
from warehouse.cli.search import search as search_group
from warehouse.cli.stats import stats as stats_group
from warehouse.cli.storage import storage as storage_group
from warehouse.cli.upstream import upstream as upstream_group
from warehouse.cli.users import shell, token, user


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate a warehouse package index."""


main.add_command(db)
main.add_command(user)
main.add_command(token)
main.add_command(shell)
main.add_command(project)
main.add_command(search_group)
main.add_command(queues_group)
main.add_command(stats_group)
main.add_command(scan_group)
main.add_command(admin)
main.add_command(names)
main.add_command(storage_group)
main.add_command(mirror_verify)
main.add_command(upstream_group)
