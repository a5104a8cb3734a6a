"""``warehouse admin`` (flags, the admin log) and ``warehouse names`` (prohibited names).

Every change is written to the admin log with the operator's login and host, as the admin
pages write theirs with the admin's username and address.
"""

from __future__ import annotations

import getpass
import json
import socket

import click

from warehouse.cli.context import load_settings, session_scope


def cli_actor(by: str | None = None):
    from warehouse.admin.services import Actor

    return Actor(by or f"cli:{getpass.getuser()}", "cli", socket.gethostname())


def run_admin(action):
    """Run ``action(session)`` in one transaction; a refusal is a plain error, nothing written."""
    from warehouse.admin.flags import UnknownFlag
    from warehouse.admin.services import AdminError

    try:
        with session_scope() as session:
            return action(session)
    except (AdminError, UnknownFlag) as exc:
        raise click.ClickException(str(exc)) from exc


by_option = click.option("--by", "by", help="Name to record in the admin log (default: cli:$USER).")


@click.group()
def admin() -> None:
    """Admin flags and the admin log."""


@admin.group()
def flag() -> None:
    """Flags that refuse a kind of write, each with the message users see."""


@flag.command("list")
def flag_list() -> None:
    """Every flag, whether it is on, and its message."""
    from warehouse.admin.flags import load_states

    with session_scope() as session:
        states = load_states(session)
    for state in states.values():
        click.echo(
            f"{state.flag.value:<36} {'on ' if state.enabled else 'off'}  {state.shown_message}"
        )


@flag.command("set")
@click.argument("name")
@click.argument("value", type=click.Choice(["on", "off"]))
@click.option("--message", default=None, help="What users are told while the flag is on.")
@by_option
def flag_set(name: str, value: str, message: str | None, by: str | None) -> None:
    """Turn flag NAME on or off (every process notices within about a second)."""
    from warehouse.admin.flags import parse_flag, set_flag
    from warehouse.admin.services import log_action

    actor = cli_actor(by)

    def action(session):
        flag = parse_flag(name)
        before, after = set_flag(session, flag, value == "on", message, actor.username)
        log_action(
            session,
            actor,
            "set flag",
            "flag",
            flag.value,
            before={"enabled": before.enabled, "message": before.message},
            after={"enabled": after.enabled, "message": after.message},
        )
        return after

    after = run_admin(action)
    click.echo(f"{after.flag.value} is {'on' if after.enabled else 'off'}: {after.shown_message}")


@admin.command("log")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--target", default=None, help="Only entries about this project, user or flag.")
def admin_log(limit: int, target: str | None) -> None:
    """The newest admin actions, newest first."""
    from warehouse.admin.services import recent_log

    with session_scope() as session:
        entries = recent_log(session, limit, target=target)
        for entry in entries:
            where = f"{entry.source}" + (f"@{entry.remote_addr}" if entry.remote_addr else "")
            click.echo(
                f"{entry.created:%Y-%m-%d %H:%M:%S}  {entry.actor} ({where})  {entry.action}  "
                f"{entry.target_kind} {entry.target}  {json.dumps(entry.details, sort_keys=True)}"
            )
    if not entries:
        click.echo("no admin actions yet")


@click.group()
def names() -> None:
    """Project names that new projects may not take."""


@names.command("prohibit")
@click.argument("name")
@click.option("--reason", required=True, help="Why; uploaders are told.")
@by_option
def names_prohibit(name: str, reason: str, by: str | None) -> None:
    """Refuse new projects named NAME (normalized); existing projects are not touched."""
    from warehouse.admin.services import prohibit_name

    normalized = run_admin(lambda session: prohibit_name(session, cli_actor(by), name, reason))
    click.echo(f"prohibited {normalized}")


@names.command("allow")
@click.argument("name")
@by_option
def names_allow(name: str, by: str | None) -> None:
    """Let new projects take NAME again."""
    from warehouse.admin.services import allow_name

    normalized = run_admin(lambda session: allow_name(session, cli_actor(by), name))
    click.echo(f"allowed {normalized}")


@names.command("list")
def names_list() -> None:
    """Every prohibited name with its reason."""
    from warehouse.admin.services import prohibited_names

    with session_scope() as session:
        rows = prohibited_names(session)
        for row in rows:
            click.echo(f"{row.name:<40} {row.created:%Y-%m-%d}  {row.comment}")
    if not rows:
        click.echo("no prohibited names")


def cli_mailer(session):
    from warehouse.admin.mail import session_mailer

    settings = load_settings()
    return session_mailer(session, settings.site_url or f"http://localhost:{settings.port}")
