"""Keeping the OpenSearch index current: per-project tasks sent after each commit.

Every change to a project writes a journal entry, and after the commit one of the reactions
in :mod:`warehouse.effects` sends one ``reindex_project`` per project it names. The task reads the project's committed ``project_search``
row and writes it to the index, or deletes the document when there is no row (the project,
or its last release, was deleted; an old name after a rename). So the task is idempotent and
order does not matter: whichever run is last writes the state that was committed last.

Only with ``WAREHOUSE_SEARCH_BACKEND=opensearch``; the PostgreSQL backend needs no tasks.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from warehouse.search import opensearch
from warehouse.tasks import TRANSIENT_ERRORS, app

log = structlog.get_logger(__name__)

# A cluster that is restarting or overloaded answers these; the next try usually works.
SEARCH_TRANSIENT = (*TRANSIENT_ERRORS, OpenSearchConnectionError, ConnectionTimeout)


class _Retryable(Exception):
    pass


def _write(settings, action) -> None:
    client = opensearch.client_from_settings(settings)
    try:
        opensearch.ensure_alias(client, settings.opensearch_index)
        action(client, settings.opensearch_index)
    except TransportError as exc:
        # 429 (too many requests) and 5xx pass; a 4xx means our document is wrong.
        if exc.status_code == 429 or (isinstance(exc.status_code, int) and exc.status_code >= 500):
            raise _Retryable(str(exc)) from exc
        raise


@app.task(
    name="warehouse.search.tasks.reindex_project",
    bind=True,
    autoretry_for=(*SEARCH_TRANSIENT, _Retryable),
)
def reindex_project(self, normalized_name: str) -> None:
    ctx = self.ctx
    with ctx.session() as session:
        row = opensearch.entry_for(session, normalized_name)
        if row is None:
            _write(ctx.settings, lambda c, a: opensearch.delete_document(c, a, normalized_name))
            log.info("search document removed", project=normalized_name)
        else:
            _write(ctx.settings, lambda c, a: opensearch.put_document(c, a, row))
            log.info("search document written", project=normalized_name)


@app.task(
    name="warehouse.search.tasks.unindex_project",
    bind=True,
    autoretry_for=(*SEARCH_TRANSIENT, _Retryable),
)
def unindex_project(self, normalized_name: str) -> None:
    _write(self.ctx.settings, lambda c, a: opensearch.delete_document(c, a, normalized_name))


def send_reindex_tasks(normalized_names: Iterable[str]) -> None:
    """After a commit that journaled changes: one reindex task per changed project."""
    for name in sorted(normalized_names):
        # send_now: we already run after the commit.
        reindex_project.send_now((name,))
