"""``warehouse user`` and ``warehouse token``: accounts and API tokens from the shell."""

from __future__ import annotations

import datetime

import click

from warehouse.accounts.services import AccountError, DatabaseUserService
from warehouse.cli.context import session_scope
from warehouse.db import utcnow
from warehouse.packaging.services import DatabaseProjectService
from warehouse.tokens.services import DatabaseTokenService


@click.group()
def user() -> None:
    """Manage user accounts."""


@user.command("create")
@click.argument("username")
@click.option("--email", required=True, help="Primary email address; marked verified.")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--superuser", is_flag=True, help="Give the account admin rights.")
def create_user(username: str, email: str, password: str, superuser: bool) -> None:
    """Create a user with a verified primary email address."""
    with session_scope() as session:
        try:
            account = DatabaseUserService(session).create_user(
                username, password, email=email, email_verified=True
            )
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        account.is_superuser = superuser
    click.echo(f"created user {username}")


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.argument("username")
@click.option(
    "--project", "projects", multiple=True, help="Limit the token to this project (repeatable)."
)
@click.option("--expires", type=click.IntRange(min=1), help="Days until the token expires.")
@click.option("--description", default="created from the command line")
def create_token(username: str, projects: tuple[str, ...], expires: int | None, description: str):
    """Create an API token for USERNAME and print it (only the token)."""
    with session_scope() as session:
        owner = DatabaseUserService(session).find_by_username(username)
        if owner is None:
            raise click.ClickException(f"no user named {username!r}")
        _check_token_projects(session, owner, projects)
        expiry = utcnow() + datetime.timedelta(days=expires) if expires else None
        _, secret = DatabaseTokenService(session).create(
            owner, projects=list(projects) or None, expires=expiry, description=description
        )
    click.echo(secret)


def _check_token_projects(session, owner, names) -> None:
    """A token may only be scoped to existing projects its owner has a role on."""
    projects = DatabaseProjectService(session)
    for name in names:
        project = projects.find(name)
        if project is None:
            raise click.ClickException(f"no project named {name!r}")
        if projects.role_of(owner, project) is None:
            raise click.ClickException(f"{owner.username} has no role on project {project.name!r}")


@click.command()
def shell() -> None:
    """An interactive Python shell with a database session as ``db``."""
    import code

    from warehouse.accounts import models as accounts
    from warehouse.packaging import models as packaging

    with session_scope() as session:
        code.interact(
            banner="warehouse shell: `db` is a session; `accounts`, `packaging` are the models.",
            local={"db": session, "accounts": accounts, "packaging": packaging},
        )


@user.command("admin")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Take admin rights away instead.")
@click.option("--by", "by", help="Name to record in the admin log (default: cli:$USER).")
def user_admin(username: str, revoke: bool, by: str | None) -> None:
    """Grant USERNAME admin rights (the /admin/ pages also need two-factor)."""
    from warehouse.admin.services import find_user, set_admin
    from warehouse.cli.admin import cli_actor, run_admin

    run_admin(
        lambda session: set_admin(session, cli_actor(by), find_user(session, username), not revoke)
    )
    click.echo(f"{username} is {'no longer' if revoke else 'now'} an admin")


@user.command("observer")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Stop trusting the user's reports.")
@click.option("--by", "by", help="Name to record in the admin log (default: cli:$USER).")
def user_observer(username: str, revoke: bool, by: str | None) -> None:
    """Mark USERNAME a trusted observer: their reports can quarantine projects."""
    from warehouse.admin.services import find_user, set_trusted_observer
    from warehouse.cli.admin import cli_actor, run_admin

    run_admin(
        lambda session: set_trusted_observer(
            session, cli_actor(by), find_user(session, username), not revoke
        )
    )
    click.echo(f"{username} is {'no longer' if revoke else 'now'} a trusted observer")
