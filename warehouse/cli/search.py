"""``warehouse search reindex``: rebuild the search index from the database."""

from __future__ import annotations

import click
import sqlalchemy as sa

# Imported so that project changes made by CLI commands are sent to OpenSearch too.
import warehouse.search.tasks  # noqa: F401
from warehouse.cli.context import load_settings, session_scope


@click.group()
def search() -> None:
    """Search index maintenance."""


@search.command()
def reindex() -> None:
    """Rebuild the whole index.

    PostgreSQL: rewrite every row of project_search in one transaction. OpenSearch: build a
    new index beside the live one (searches keep using the old one meanwhile), then swap the
    alias to it atomically and delete the old index.
    """
    settings = load_settings()
    if settings.search_backend != "opensearch":
        from warehouse.search import rebuild_all

        with session_scope(settings) as session:
            rebuild_all(session)
        click.echo("project_search rebuilt")
        return

    from warehouse.search import opensearch
    from warehouse.search.models import ProjectSearch

    client = opensearch.client_from_settings(settings)
    alias = settings.opensearch_index
    with session_scope(settings) as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(ProjectSearch))
        rows = opensearch.all_entries(session)
        with click.progressbar(
            opensearch.reindex_all(client, alias, rows), length=total, label="Indexing"
        ) as progress:
            for _ in progress:
                pass
    click.echo(
        f"{total} projects indexed; {alias} -> {', '.join(opensearch.indices_behind(client, alias))}"
    )
