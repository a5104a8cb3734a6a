"""``warehouse project``: operator actions on projects, each journaled like the web's."""

from __future__ import annotations

import click
import sqlalchemy as sa
from packaging.utils import canonicalize_name

from warehouse.accounts.services import DatabaseUserService
from warehouse.cli.context import load_settings, transaction_scope
from warehouse.packaging.management import ManagementError, ProjectManagement
from warehouse.packaging.models import File, Project, Release
from warehouse.packaging.services import DatabaseProjectService


def _find_project(session, name: str) -> Project:
    project = DatabaseProjectService(session).find(name)
    if project is None:
        raise click.ClickException(f"no project named {name!r}")
    return project


def _find_release(session, project: Project, version: str) -> Release:
    release = session.scalar(
        sa.select(Release).where(Release.project_id == project.id, Release.version == version)
    )
    if release is None:
        raise click.ClickException(f"{project.name} has no release {version!r}")
    return release


def _actor(session, username: str | None):
    if username is None:
        return None
    user = DatabaseUserService(session).find_by_username(username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    return user


def _run(action) -> None:
    """Run ``action(session, management)`` in one transaction, reporting refusals plainly."""
    settings = load_settings()
    try:
        with transaction_scope(settings) as (session, _):
            action(session, ProjectManagement(session, DatabaseProjectService(session)))
    except ManagementError as exc:
        raise click.ClickException(str(exc)) from exc


by_option = click.option("--by", "by", help="Username to record as having made the change.")


@click.group()
def project() -> None:
    """Yank, unyank and delete releases, files and projects."""


@project.command()
@click.argument("name")
@click.argument("version")
@click.option("--reason", default="", help="Shown to installers (PEP 592).")
@by_option
def yank(name: str, version: str, reason: str, by: str | None) -> None:
    """Yank release VERSION of project NAME."""

    def action(session, management):
        release = _find_release(session, _find_project(session, name), version)
        management.yank_release(release, reason, _actor(session, by))

    _run(action)
    click.echo(f"yanked {name} {version}")


@project.command()
@click.argument("name")
@click.argument("version")
@by_option
def unyank(name: str, version: str, by: str | None) -> None:
    """Undo the yank of release VERSION of project NAME."""

    def action(session, management):
        release = _find_release(session, _find_project(session, name), version)
        management.unyank_release(release, _actor(session, by))

    _run(action)
    click.echo(f"unyanked {name} {version}")


@project.command("delete-release")
@click.argument("name")
@click.argument("version")
@by_option
def delete_release(name: str, version: str, by: str | None) -> None:
    """Delete release VERSION of NAME and its files (their filenames stay used)."""

    def action(session, management):
        release = _find_release(session, _find_project(session, name), version)
        management.delete_release(release, _actor(session, by))

    _run(action)
    click.echo(f"deleted {name} {version}")


@project.command("delete-file")
@click.argument("filename")
@by_option
def delete_file(filename: str, by: str | None) -> None:
    """Delete one distribution file (its filename can never be uploaded again)."""

    def action(session, management):
        file = session.scalar(sa.select(File).where(File.filename == filename))
        if file is None:
            raise click.ClickException(f"no file named {filename!r}")
        management.delete_file(file, _actor(session, by))

    _run(action)
    click.echo(f"deleted {filename}")


@project.command("delete")
@click.argument("name")
@click.option("--confirm", required=True, help="The project's name again, to be sure.")
@by_option
def delete_project(name: str, confirm: str, by: str | None) -> None:
    """Delete project NAME with all its releases and files."""
    if canonicalize_name(confirm) != canonicalize_name(name):
        raise click.ClickException("--confirm does not match the project name")

    def action(session, management):
        management.delete_project(_find_project(session, name), _actor(session, by))

    _run(action)
    click.echo(f"deleted project {name}")
