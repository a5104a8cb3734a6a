"""Search on OpenSearch (or Elasticsearch): the second :class:`ISearchService` backend.

Chosen by ``WAREHOUSE_SEARCH_BACKEND=opensearch``. Documents are copies of the rows that
:mod:`warehouse.search.indexing` keeps in ``project_search`` (that table is what decides which
release a project is shown with), written by the tasks in :mod:`warehouse.search.tasks` after
each commit that changed a project. So, unlike the PostgreSQL backend, a committed upload is
searchable a moment later, not at once.

Queries go to an alias (``WAREHOUSE_OPENSEARCH_INDEX``), never to an index: ``warehouse search
reindex`` builds a new index beside the live one and swaps the alias in one atomic step.

Ranking follows the PostgreSQL backend: the project whose normalized name is the query comes
first, whatever the order; then by relevance (name, then summary, then keywords, then the
description) or by upload date.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
import structlog
from packaging.utils import canonicalize_name
from sqlalchemy import orm
from zope.interface import implementer

from warehouse.search.indexing import DESCRIPTION_LIMIT
from warehouse.search.interfaces import ORDERS, ISearchService, SearchHit, SearchResults
from warehouse.search.models import ProjectSearch

log = structlog.get_logger(__name__)

MAX_QUERY_LENGTH = 200
MAX_PER_PAGE = 100
MAX_PAGE = 500
# Same cap as the PostgreSQL backend: beyond it the total is reported as "10,000+".
COUNT_LIMIT = 10_000
# Far above any text score, so that the exact name always leads.
EXACT_BOOST = 10_000

# Names are also indexed as words ("zope.interface" as "zope interface", as the PostgreSQL
# backend does), and by word prefix, so "djan" finds django while the user is still typing.
# The split is done when the document is built, not by a tokenizer: every engine that
# speaks the API then agrees on it.
SETTINGS = {
    "number_of_shards": 1,
    "analysis": {
        "filter": {
            "name_edge_ngram": {"type": "edge_ngram", "min_gram": 2, "max_gram": 20},
        },
        "analyzer": {
            "name": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]},
            "name_prefix": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "name_edge_ngram"],
            },
        },
    },
}

MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "name": {"type": "text", "analyzer": "name"},
        "name_words": {
            "type": "text",
            "analyzer": "name",
            "fields": {
                "prefix": {"type": "text", "analyzer": "name_prefix", "search_analyzer": "name"},
            },
        },
        "normalized_name": {"type": "keyword"},
        "version": {"type": "keyword", "index": False},
        "summary": {"type": "text", "analyzer": "english"},
        "keywords": {"type": "text", "analyzer": "english"},
        "description": {"type": "text", "analyzer": "english"},
        "classifiers": {"type": "keyword"},
        # Every classifier and each of its " :: " ancestors: a prefix filter is one term.
        "classifier_prefixes": {"type": "keyword"},
        "created": {"type": "date"},
    },
}

# Relevance weights, in the PostgreSQL backend's order (name A, summary B, keywords C,
# description D).
TEXT_FIELDS = [
    "name^10",
    "name_words^10",
    "name_words.prefix^3",
    "summary^5",
    "keywords^3",
    "description",
]


@functools.cache
def client_for(url: str):
    """One client (and connection pool) per process and URL."""
    from opensearchpy import OpenSearch

    return OpenSearch(hosts=[url], timeout=10, max_retries=2, retry_on_timeout=True)


def client_from_settings(settings):
    return client_for(settings.opensearch_url)


_SEPARATORS = str.maketrans("-_.", "   ")

# Documents --------------------------------------------------------------------------------


def document(row: ProjectSearch) -> dict:
    created = row.created
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return {
        "name": row.name,
        "name_words": row.name.translate(_SEPARATORS),
        "normalized_name": row.normalized_name,
        "version": row.version,
        "summary": row.summary or "",
        "keywords": row.keywords or "",
        "description": (row.description or "")[:DESCRIPTION_LIMIT],
        "classifiers": list(row.classifiers or ()),
        "classifier_prefixes": list(row.classifier_prefixes or ()),
        "created": created.isoformat(),
    }


def entry_for(session: orm.Session, normalized_name: str) -> ProjectSearch | None:
    return session.scalar(
        sa.select(ProjectSearch).where(
            ProjectSearch.normalized_name == canonicalize_name(normalized_name)
        )
    )


def all_entries(session: orm.Session, batch: int = 500) -> Iterator[ProjectSearch]:
    query = sa.select(ProjectSearch).order_by(ProjectSearch.project_id)
    yield from session.scalars(query.execution_options(yield_per=batch))


def put_document(client, alias: str, row: ProjectSearch) -> None:
    # The document id is the normalized name: a rename is a removal and an addition.
    client.index(index=alias, id=row.normalized_name, body=document(row))


def delete_document(client, alias: str, normalized_name: str) -> None:
    from opensearchpy.exceptions import NotFoundError

    try:
        client.delete(index=alias, id=canonicalize_name(normalized_name))
    except NotFoundError:
        pass  # never indexed, or already gone: the outcome is the same


# Building a new index and swapping the alias ---------------------------------------------


def new_index_name(alias: str) -> str:
    return f"{alias}-{datetime.datetime.now(datetime.UTC):%Y%m%d%H%M%S%f}"


def create_index(client, name: str) -> None:
    client.indices.create(index=name, body={"settings": SETTINGS, "mappings": MAPPINGS})


def ensure_alias(client, alias: str) -> None:
    """Make sure the alias exists (an empty index behind it), so writes never fail on it."""
    if not client.indices.exists_alias(name=alias):
        index = new_index_name(alias)
        create_index(client, index)
        client.indices.put_alias(index=index, name=alias)


def indices_behind(client, alias: str) -> list[str]:
    from opensearchpy.exceptions import NotFoundError

    try:
        return sorted(client.indices.get_alias(name=alias))
    except NotFoundError:
        return []


def bulk_actions(index: str, rows: Iterable[ProjectSearch]) -> Iterator[dict]:
    for row in rows:
        yield {"_index": index, "_id": row.normalized_name, "_source": document(row)}


def reindex_all(client, alias: str, rows: Iterable[ProjectSearch], *, chunk_size: int = 500):
    """Index ``rows`` into a new index, then point ``alias`` at it and drop the old ones.

    Yields after each document (for a progress bar). Searches see the old index until the
    swap, which removes and adds the alias in one request: there is no moment without it.
    """
    from opensearchpy.helpers import streaming_bulk

    index = new_index_name(alias)
    create_index(client, index)
    try:
        for _ok, item in streaming_bulk(
            client, bulk_actions(index, rows), chunk_size=chunk_size, raise_on_error=True
        ):
            yield item
        client.indices.refresh(index=index)
        old = indices_behind(client, alias)
        actions = [{"remove": {"index": name, "alias": alias}} for name in old]
        actions.append({"add": {"index": index, "alias": alias}})
        client.indices.update_aliases(body={"actions": actions})
    except BaseException:
        client.indices.delete(index=index, ignore_unavailable=True)
        raise
    for name in old:
        client.indices.delete(index=name, ignore_unavailable=True)
    log.info("search index rebuilt", alias=alias, index=index, replaced=old)


# Searching -------------------------------------------------------------------------------


def build_query(text: str, classifiers: list[str], order: str) -> dict:
    filters = [{"term": {"classifier_prefixes": c}} for c in classifiers]
    if not text:
        return {"bool": {"filter": filters}} if filters else {"match_all": {}}
    exact = {
        "constant_score": {
            "filter": {"term": {"normalized_name": canonicalize_name(text)}},
            "boost": EXACT_BOOST,
        }
    }
    words = {
        "multi_match": {"query": text, "fields": TEXT_FIELDS, "type": "best_fields"},
    }
    # A misspelled name ("reqests") still finds the project, ranked below real matches.
    typo = {"match": {"name_words": {"query": text, "fuzziness": "AUTO", "boost": 0.5}}}
    if order != "relevance":
        # Sorted by date: the exact name scores 1, every other match 0, and the sort
        # puts the score before the date.
        words = {"constant_score": {"filter": words, "boost": 0}}
        typo = {"constant_score": {"filter": typo, "boost": 0}}
        exact["constant_score"]["boost"] = 1
    return {
        "bool": {
            "should": [exact, words, typo],
            "minimum_should_match": 1,
            "filter": filters,
        }
    }


def build_sort(order: str) -> list:
    if order == "relevance":
        return ["_score", {"created": "desc"}, {"normalized_name": "asc"}]
    direction = "asc" if order == "created" else "desc"
    return ["_score", {"created": direction}, {"normalized_name": "asc"}]


def _parse_created(value: str) -> datetime.datetime:
    created = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return created if created.tzinfo else created.replace(tzinfo=datetime.UTC)


@implementer(ISearchService)
class OpenSearchService:
    def __init__(self, client, alias: str, session: orm.Session | None = None):
        self.client = client
        self.alias = alias
        self.db = session

    def search(self, query, classifiers=(), order="relevance", page=1, per_page=20):
        text = " ".join((query or "").split())[:MAX_QUERY_LENGTH]
        if order not in ORDERS:
            order = "relevance"
        page = max(1, min(int(page), MAX_PAGE))
        per_page = max(1, min(int(per_page), MAX_PER_PAGE))
        classifiers = sorted({c.strip() for c in classifiers if c and c.strip()})
        body = {
            "query": build_query(text, classifiers, order),
            "sort": build_sort(order) if text else build_sort(order)[1:],
            "from": (page - 1) * per_page,
            "size": per_page,
            "track_total_hits": COUNT_LIMIT,
            "_source": ["name", "normalized_name", "version", "summary", "created"],
        }
        response = self.client.search(index=self.alias, body=body)
        hits = response["hits"]
        total = hits["total"]
        items = [
            SearchHit(
                h["_source"]["name"],
                h["_source"]["normalized_name"],
                h["_source"]["version"],
                h["_source"].get("summary") or None,
                _parse_created(h["_source"]["created"]),
            )
            for h in hits["hits"]
        ]
        return SearchResults(
            total=min(total["value"], COUNT_LIMIT),
            items=items,
            page=page,
            per_page=per_page,
            total_is_lower_bound=total.get("relation") == "gte" or total["value"] >= COUNT_LIMIT,
        )

    # The index is written by tasks after the commit: a worker must not index a row the
    # caller may still roll back, and a search cluster cannot join our transaction.
    def index_project(self, project_id) -> None:
        from warehouse.search.tasks import reindex_project

        if self.db is None:
            raise RuntimeError("index_project needs a session")
        name = self.db.scalar(
            sa.text("SELECT normalized_name FROM projects WHERE id = :id"), {"id": project_id}
        )
        if name is not None:
            reindex_project.delay(name)

    def remove_project(self, normalized_name) -> None:
        from warehouse.search.tasks import unindex_project

        unindex_project.delay(canonicalize_name(normalized_name))


def opensearch_service_factory(context, request) -> OpenSearchService:
    settings = request.registry.settings["warehouse"]
    return OpenSearchService(client_from_settings(settings), settings.opensearch_index, request.db)


def includeme(config) -> None:
    """With ``WAREHOUSE_SEARCH_BACKEND=opensearch``, serve ISearchService from OpenSearch.

    The PostgreSQL factory is registered by :mod:`warehouse.search` in an ordinary action;
    ours runs in a later phase and replaces it (two actions with the same discriminator would
    conflict instead).
    """
    from pyramid_services import IServiceRegistry, ProxyFactory

    settings = config.registry.settings["warehouse"]
    if settings.search_backend != "opensearch":
        return

    def register():
        registry = config.registry.getUtility(IServiceRegistry)
        registry.register_factory(
            ProxyFactory(opensearch_service_factory), ISearchService, context=None, name=""
        )

    config.action(None, register, order=10)
