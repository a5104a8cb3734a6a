"""``warehouse upstream``: add, list, sync, remove upstream indexes; allow names from them."""

from __future__ import annotations

import netrc
from pathlib import Path
from urllib.parse import urlsplit

import click
import sqlalchemy as sa

from warehouse.cli.context import load_settings, session_scope


@click.group()
def upstream() -> None:
    """Upstream indexes mirrored by this one (see docs/upstreams.md)."""


def _netrc_credentials(url: str, path: str | None) -> tuple[str | None, str | None]:
    host = urlsplit(url).hostname or ""
    try:
        found = netrc.netrc(path).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError) as exc:
        raise click.ClickException(f"netrc: {exc}") from exc
    if found is None:
        raise click.ClickException(f"netrc has no entry for {host!r}")
    login, _, password = found
    return login, password


@upstream.command("add")
@click.argument("name")
@click.argument("url")
@click.option(
    "--policy",
    type=click.Choice(["on_demand", "immediate", "streamed"]),
    default="on_demand",
    show_default=True,
    help="on_demand: fetch a file on its first request and keep it; immediate: fetch every "
    "file at sync; streamed: pass files through, keep none.",
)
@click.option(
    "--bandersnatch-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An unmodified bandersnatch.conf whose [plugins] filter what is mirrored.",
)
@click.option(
    "--page-ttl",
    type=int,
    default=1800,
    show_default=True,
    help="Seconds a project page of an upstream without serials is trusted.",
)
@click.option("--username", help="For a private upstream (the password is kept encrypted).")
@click.option("--password", help="With --username; prompted for when omitted.")
@click.option("--netrc", "use_netrc", is_flag=True, help="Take the credentials from ~/.netrc.")
@click.option("--netrc-file", type=click.Path(dir_okay=False), help="With --netrc: this file.")
def add(
    name, url, policy, bandersnatch_config, page_ttl, username, password, use_netrc, netrc_file
):
    """Add upstream NAME: the simple index at URL."""
    from warehouse.upstreams.services import UpstreamError, add_upstream

    if use_netrc:
        username, password = _netrc_credentials(url, netrc_file)
    elif username and password is None:
        password = click.prompt("Password", hide_input=True)
    config_text = bandersnatch_config.read_text() if bandersnatch_config else ""
    settings = load_settings()
    try:
        with session_scope(settings) as session:
            added = add_upstream(
                session,
                settings,
                name=name,
                url=url,
                policy=policy,
                page_ttl=page_ttl,
                bandersnatch_config=config_text,
                username=username,
                password=password,
            )
            click.echo(f"added upstream {added.name} ({added.url}, {added.policy})")
    except UpstreamError as exc:
        raise click.ClickException(str(exc)) from exc


@upstream.command("list")
def list_() -> None:
    """Every upstream, its policy, serials and state."""
    from warehouse.upstreams.models import Upstream, UpstreamProject, UpstreamQueueItem

    with session_scope() as session:
        rows = session.execute(
            sa.select(
                Upstream,
                sa.select(sa.func.count())
                .where(UpstreamProject.upstream_id == Upstream.id)
                .scalar_subquery(),
                sa.select(sa.func.count())
                .where(UpstreamQueueItem.upstream_id == Upstream.id)
                .scalar_subquery(),
            ).order_by(Upstream.name)
        ).all()
        if not rows:
            click.echo("no upstreams")
        for up, projects, queued in rows:
            serials = "no serials" if up.has_serials is False else f"serial {up.last_serial}"
            if up.target_serial and up.target_serial > up.last_serial:
                serials += f" -> {up.target_serial}"
            click.echo(
                f"{up.name}\t{up.url}\t{up.policy}\t{serials}\t{projects} projects\t"
                f"{queued} queued\t{up.state}: {up.state_detail}"
            )


@upstream.command("sync")
@click.argument("name")
@click.option("--all-projects", is_flag=True, help="Fetch every listed project again.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Project pages fetched at once (they are applied in order, one transaction a batch).",
)
def sync_(name, all_projects, workers):
    """Sync upstream NAME now, in this process (resumes a pass left unfinished)."""
    from warehouse.tasks import TaskContext
    from warehouse.upstreams import sync
    from warehouse.upstreams.client import UpstreamUnavailable
    from warehouse.upstreams.fetch import fetch_into_archive
    from warehouse.upstreams.services import UpstreamError, find_upstream

    settings = load_settings()
    ctx = TaskContext.from_settings(settings)
    try:
        with ctx.session() as session:
            upstream = find_upstream(session, name)
            upstream_id, policy = upstream.id, upstream.policy
        try:
            sync.discover(ctx, upstream_id, force=all_projects)
        except UpstreamUnavailable as exc:
            raise click.ClickException(f"upstream {name} cannot be reached: {exc}") from exc
        with ctx.session() as session:
            queued = len(sync.queued_names(session, upstream_id))
        fetched = 0
        with click.progressbar(length=queued, label=f"Syncing {name}", show_pos=True) as bar:
            outcome = sync.sync_queued(ctx, upstream_id, workers=workers, progress=bar.update)
        for normalized, error in outcome.failed.items():
            click.echo(f"{normalized}: {error}", err=True)
        failed = len(outcome.failed)
        new_files = outcome.new_file_ids
        if policy == "immediate" and new_files:
            with click.progressbar(new_files, label="Fetching files", show_pos=True) as bar:
                for file_id in bar:
                    try:
                        if fetch_into_archive(ctx, file_id) == "stored":
                            fetched += 1
                    except UpstreamUnavailable as exc:
                        failed += 1
                        click.echo(f"\nfile {file_id}: {exc}", err=True)
        with ctx.session() as session:
            upstream = find_upstream(session, name)
            click.echo(
                f"{outcome.applied} projects synced, {len(new_files)} new files"
                + (f", {fetched} fetched" if policy == "immediate" else "")
                + f"; serial {upstream.last_serial}; {upstream.state_detail}"
            )
        if failed:
            raise click.ClickException(f"{failed} failed; run the sync again to resume")
    except UpstreamError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        ctx.engine.dispose()


@upstream.command("remove")
@click.argument("name")
@click.confirmation_option(prompt="Remove the upstream and every project mirrored from it?")
def remove(name):
    """Remove upstream NAME and what was mirrored from it (local files stay)."""
    from warehouse.upstreams.services import UpstreamError, remove_upstream

    try:
        with session_scope() as session:
            removed = remove_upstream(session, name)
    except UpstreamError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed upstream {name} and {removed} projects mirrored from it")


@upstream.command("allow")
@click.argument("name")
@click.argument("project")
def allow_(name, project):
    """Allow PROJECT from upstream NAME although it is (or may become) a local name too."""
    from warehouse.upstreams.services import UpstreamError, allow

    try:
        with session_scope() as session:
            added = allow(session, name, project, by="cli")
    except UpstreamError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{project} allowed from {name}" if added else f"{project} was allowed from {name} already"
    )
