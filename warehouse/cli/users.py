"""``warehouse user`` and ``warehouse token``: accounts and API tokens from the shell."""

from __future__ import annotations

import datetime
import uuid

import click

from warehouse.accounts.services import AccountError, DatabaseUserService
from warehouse.cli.context import load_settings, session_scope
from warehouse.db import utcnow
from warehouse.packaging.services import DatabaseProjectService
from warehouse.tokens.caveats import SCOPES, CaveatError
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import DatabaseTokenService, InvalidToken, narrow


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
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What the token may do (repeatable; both if not given).",
)
@click.option(
    "--project", "projects", multiple=True, help="Limit the token to this project (repeatable)."
)
@click.option("--expires", type=click.IntRange(min=1), help="Days until the token expires.")
@click.option("--description", default="created from the command line")
def create_token(
    username: str,
    scopes: tuple[str, ...],
    projects: tuple[str, ...],
    expires: int | None,
    description: str,
):
    """Create an API token for USERNAME and print it (only the token)."""
    settings = load_settings()
    with session_scope(settings) as session:
        owner = _find_user(session, username)
        _check_token_projects(session, owner, projects)
        expiry = utcnow() + datetime.timedelta(days=expires) if expires else None
        _, secret = DatabaseTokenService(session, settings.secret_key).create(
            owner,
            projects=list(projects) or None,
            expires=expiry,
            description=description,
            scopes=scopes or SCOPES,
        )
    click.echo(secret)


@token.command("list")
@click.argument("username")
def list_tokens(username: str) -> None:
    """List USERNAME's tokens: id, scopes, projects, expiry, last use (never the secret)."""
    settings = load_settings()
    with session_scope(settings) as session:
        owner = _find_user(session, username)
        tokens = DatabaseTokenService(session, settings.secret_key).list_for(owner)
        if not tokens:
            click.echo(f"{username} has no tokens")
        for api_token in tokens:
            limits = api_token.row_restrictions.describe()
            click.echo(
                "\t".join(
                    (
                        str(api_token.id),
                        ",".join(limits["scopes"]),
                        ",".join(limits["projects"] or ["all projects"]),
                        f"expires {limits['expires'] or 'never'}",
                        f"last used {_when(api_token.last_used)}",
                        api_token.description,
                    )
                )
            )


@token.command("revoke")
@click.argument("token_id")
def revoke_token(token_id: str) -> None:
    """Revoke the token with this id (from `warehouse token list`): it stops working at once."""
    settings = load_settings()
    with session_scope(settings) as session:
        api_token = session.get(APIToken, _token_uuid(token_id))
        if api_token is None:
            raise click.ClickException(f"no token with id {token_id}")
        owner = api_token.user.username
        DatabaseTokenService(session, settings.secret_key).revoke(api_token)
    click.echo(f"revoked token {token_id} of {owner}")


@token.command("narrow")
@click.argument("token_string", metavar="TOKEN")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES))
@click.option("--project", "projects", multiple=True)
@click.option("--expires", type=click.IntRange(min=1), help="Days from now.")
def narrow_token(token_string: str, scopes, projects, expires: int | None) -> None:
    """Print TOKEN with more caveats (no database: any holder can do this, never widen)."""
    expiry = utcnow() + datetime.timedelta(days=expires) if expires else None
    try:
        click.echo(narrow(token_string, scopes=scopes, projects=projects, expires=expiry))
    except (CaveatError, InvalidToken) as exc:
        raise click.ClickException(str(getattr(exc, "reason", exc))) from exc


def _find_user(session, username: str):
    owner = DatabaseUserService(session).find_by_username(username)
    if owner is None:
        raise click.ClickException(f"no user named {username!r}")
    return owner


def _token_uuid(token_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(token_id)
    except ValueError:
        raise click.ClickException(f"{token_id!r} is not a token id") from None


def _when(moment: datetime.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


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
