"""The OpenSearch backend against osmem-server: mapping, ranking, tasks after commit, reindex."""

from __future__ import annotations

import secrets

import pytest
from click.testing import CliRunner
from pyramid.config import Configurator

# Modules that add session event listeners when imported: imported now, because an eager
# task that first imported one inside a commit hook would change the listeners SQLAlchemy
# is iterating over.
import warehouse.api.cache  # noqa: F401
from tests.support.celery_worker import celery_app_for
from tests.support.factories import create_project
from tests.support.opensearch import opensearch_url
from warehouse import tasks
from warehouse.packaging import journal
from warehouse.packaging.journal import Action
from warehouse.search import ISearchService, opensearch

__all__ = ["opensearch_url"]  # a fixture, imported to be found


@pytest.fixture
def os_settings(settings, opensearch_url):
    # An alias of its own per test: tests share one server.
    return settings.replace(
        search_backend="opensearch",
        opensearch_url=opensearch_url,
        opensearch_index=f"test-{secrets.token_hex(4)}",
    )


@pytest.fixture
def client(os_settings):
    return opensearch.client_from_settings(os_settings)


@pytest.fixture
def ctx(os_settings, clean_database, redis_client):
    context = tasks.TaskContext.from_settings(os_settings)
    tasks.set_context(context)
    with celery_app_for(os_settings, task_always_eager=True):
        yield context
    tasks.set_context(None)
    context.engine.dispose()


@pytest.fixture
def service(client, os_settings):
    return opensearch.OpenSearchService(client, os_settings.opensearch_index)


def rebuild(db_session, client, alias) -> None:
    db_session.commit()
    list(opensearch.reindex_all(client, alias, opensearch.all_entries(db_session)))


def names(results) -> list[str]:
    return [hit.name for hit in results.items]


def test_provides_the_interface(service):
    assert ISearchService.providedBy(service)


def test_exact_name_first_then_relevance_and_dates(db_session, client, os_settings, service):
    for name in ("httpx-tools", "fast-httpx", "httpx-mock"):
        create_project(db_session, name, summary="httpx httpx httpx helpers for httpx")
    create_project(db_session, "HTTPX", summary="A next-generation HTTP client")
    rebuild(db_session, client, os_settings.opensearch_index)
    for order in ("relevance", "-created", "created"):
        results = service.search("httpx", order=order)
        assert results.items[0].name == "HTTPX", order
        assert set(names(results)) == {"HTTPX", "httpx-tools", "fast-httpx", "httpx-mock"}
        assert results.total == 4 and not results.total_is_lower_bound
    # By date: everything after the exact match in upload order.
    assert names(service.search("httpx", order="created"))[1:] == [
        "httpx-tools",
        "fast-httpx",
        "httpx-mock",
    ]
    assert names(service.search("httpx", order="-created"))[1:] == [
        "httpx-mock",
        "fast-httpx",
        "httpx-tools",
    ]


@pytest.mark.parametrize("query", ["Demo_Pkg", "demo.pkg", "DEMO-PKG"])
def test_exact_match_uses_the_normalized_name(db_session, client, os_settings, service, query):
    create_project(db_session, "demo-pkg-extras", summary="demo pkg demo pkg")
    create_project(db_session, "Demo_Pkg", summary="Something else entirely")
    rebuild(db_session, client, os_settings.opensearch_index)
    assert service.search(query).items[0].name == "Demo_Pkg"


def test_name_words_prefixes_typos_and_stemming(db_session, client, os_settings, service):
    create_project(db_session, "zope.interface", summary="Interfaces for Python")
    create_project(db_session, "requests", summary="HTTP for humans")
    create_project(db_session, "parser-kit", summary="Tools", description="It parses configs")
    rebuild(db_session, client, os_settings.opensearch_index)
    assert names(service.search("interface"))[0] == "zope.interface"
    assert names(service.search("zope"))[0] == "zope.interface"
    assert names(service.search("reque")) == ["requests"]  # a prefix of the name
    assert names(service.search("reqests")) == ["requests"]  # a typo
    assert "parser-kit" in names(service.search("parsing"))  # english stemming


def test_classifier_filters_match_prefixes(db_session, client, os_settings, service):
    create_project(db_session, "dj-thing", classifiers=["Framework :: Django :: 5.0"])
    create_project(db_session, "flask-thing", classifiers=["Framework :: Flask"])
    rebuild(db_session, client, os_settings.opensearch_index)
    assert names(service.search("", classifiers=["Framework :: Django"])) == ["dj-thing"]
    assert set(names(service.search("thing", classifiers=["Framework"]))) == {
        "dj-thing",
        "flask-thing",
    }
    assert service.search("", classifiers=["Framework :: Pyramid"]).total == 0


def test_empty_query_lists_everything_and_pages(db_session, client, os_settings, service):
    for i in range(5):
        create_project(db_session, f"p{i}")
    rebuild(db_session, client, os_settings.opensearch_index)
    first = service.search("", order="-created", per_page=2)
    assert first.total == 5 and first.page_count == 3 and names(first) == ["p4", "p3"]
    assert names(service.search("", order="-created", page=3, per_page=2)) == ["p0"]


def test_reindex_builds_a_new_index_and_swaps_the_alias(db_session, client, os_settings):
    alias = os_settings.opensearch_index
    create_project(db_session, "one")
    rebuild(db_session, client, alias)
    (first,) = opensearch.indices_behind(client, alias)
    create_project(db_session, "two")
    rebuild(db_session, client, alias)
    (second,) = opensearch.indices_behind(client, alias)
    assert second != first
    assert not client.indices.exists(index=first)  # the old index is gone
    service = opensearch.OpenSearchService(client, alias)
    assert set(names(service.search(""))) == {"one", "two"}


def test_cli_reindex_shows_progress(db_session, client, os_settings, monkeypatch):
    from warehouse.cli import search as search_cli

    create_project(db_session, "cli-one")
    create_project(db_session, "cli-two")
    db_session.commit()
    env = {
        "DATABASE_URL": os_settings.database_url,
        "REDIS_URL": os_settings.redis_url,
        "WAREHOUSE_SEARCH_BACKEND": "opensearch",
        "WAREHOUSE_OPENSEARCH_URL": os_settings.opensearch_url,
        "WAREHOUSE_OPENSEARCH_INDEX": os_settings.opensearch_index,
    }
    result = CliRunner().invoke(search_cli.search, ["reindex"], env=env)
    assert result.exit_code == 0, result.output
    assert "Indexing" in result.output and "2 projects indexed" in result.output
    service = opensearch.OpenSearchService(client, os_settings.opensearch_index)
    assert set(names(service.search(""))) == {"cli-one", "cli-two"}


def test_a_committed_change_is_indexed_by_a_task(ctx, client, os_settings):
    alias = os_settings.opensearch_index
    with ctx.session() as session:
        create_project(session, "fresh", summary="Brand new", commit=False)
    client.indices.refresh(index=alias)
    service = opensearch.OpenSearchService(client, alias)
    assert names(service.search("fresh")) == ["fresh"]

    # A rolled-back change sends nothing.
    with pytest.raises(RuntimeError), ctx.session() as session:
        create_project(session, "never", commit=False)
        raise RuntimeError("roll back")
    client.indices.refresh(index=alias)
    assert service.search("never").total == 0

    # A project that is gone leaves the index when its journal entry commits.
    with ctx.session() as session:
        from warehouse.packaging.models import Project

        session.delete(session.query(Project).filter_by(name="fresh").one())
        journal.record(session, "fresh", Action.REMOVE_PROJECT)
    client.indices.refresh(index=alias)
    assert service.search("fresh").total == 0


def test_service_tasks_wait_for_the_commit(ctx, client, os_settings):
    alias = os_settings.opensearch_index
    service = opensearch.OpenSearchService(client, alias)
    with ctx.session() as session:
        project = create_project(session, "later", commit=False)
        opensearch.OpenSearchService(client, alias, session).index_project(project.id)
    client.indices.refresh(index=alias)
    assert names(service.search("later")) == ["later"]
    opensearch.OpenSearchService(client, alias).remove_project("Later")
    client.indices.refresh(index=alias)
    assert service.search("later").total == 0


def test_the_setting_chooses_the_backend(os_settings):
    from warehouse.search.postgres import PostgresSearchService

    def service_for(settings):
        config = Configurator(settings={"warehouse": settings})
        config.include("pyramid_services")
        config.include("warehouse.search")
        config.include("warehouse.search.opensearch")
        config.commit()
        from pyramid.request import Request, apply_request_extensions

        request = Request.blank("/")
        request.registry = config.registry
        apply_request_extensions(request)
        request.db = None
        return request.find_service(ISearchService)

    assert isinstance(service_for(os_settings), opensearch.OpenSearchService)
    assert isinstance(
        service_for(os_settings.replace(search_backend="postgres")), PostgresSearchService
    )
