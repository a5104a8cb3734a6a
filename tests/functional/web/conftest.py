"""The whole app with the website and search included, as the lead's configure() will have it."""

from __future__ import annotations

import pytest
import webtest
from pyramid.view import view_config

from warehouse.config import configure, wsgi_app


class DeliberateFailure(Exception):
    pass


@view_config(route_name="test.boom")
def boom(request):
    raise DeliberateFailure("a view failed")


def build_app(settings, engine, redis_client, **overrides):
    config = configure(
        settings.replace(**overrides), **{"db.engine": engine, "redis.client": redis_client}
    )
    # Both are idempotent: harmless once warehouse/config.py includes them too.
    config.include("warehouse.search")
    config.include("warehouse.web")
    config.add_route("test.boom", "/_test/boom/")
    config.scan(__name__)
    return wsgi_app(config)


@pytest.fixture
def site(settings, clean_database, redis_client) -> webtest.TestApp:
    return webtest.TestApp(build_app(settings, clean_database, redis_client))


@pytest.fixture
def make_site(settings, clean_database, redis_client):
    def make(**overrides) -> webtest.TestApp:
        return webtest.TestApp(build_app(settings, clean_database, redis_client, **overrides))

    return make
