"""The ``warehouse`` command: database, users, tokens and maintenance jobs.

Each command's module is imported only when that command runs (or when help lists it): a
long job such as ``warehouse storage verify`` then carries the modules it needs and not the
web app's, which keeps its memory small, and every command starts sooner.
"""

from __future__ import annotations

import importlib

import click

# Command name -> "module:attribute". A new command adds one line here.
COMMANDS = {
    "db": "warehouse.cli.db:db",
    "user": "warehouse.cli.users:user",
    "token": "warehouse.cli.users:token",
    "shell": "warehouse.cli.users:shell",
    "project": "warehouse.cli.projects:project",
    "search": "warehouse.cli.search:search",
    "queues": "warehouse.cli.queues:queues",
    "stats": "warehouse.cli.stats:stats",
    "scan": "warehouse.cli.scan:scan",
    "admin": "warehouse.cli.admin:admin",
    "names": "warehouse.cli.admin:names",
    "storage": "warehouse.cli.storage:storage",
    "mirror-verify": "warehouse.cli.mirror:mirror_verify",
    "check": "warehouse.cli.check:check",
    "upstream": "warehouse.cli.upstream:upstream",
}


class LazyGroup(click.Group):
    """A group whose subcommands are named in :data:`COMMANDS` and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in COMMANDS:
            module_name, attribute = COMMANDS[name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate a warehouse package index."""
