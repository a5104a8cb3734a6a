"""Builds the Pyramid application: settings, database, services and routes."""

from __future__ import annotations

from pyramid.config import Configurator

from warehouse.api.fastpath import SimpleFastPath
from warehouse.settings import Settings


def configure(settings: Settings | None = None, **registry_extras) -> Configurator:
    """A Configurator for the whole index.

    ``registry_extras`` pre-seeds the registry (tests pass an existing ``db.engine``).
    """
    settings = settings or Settings.from_env()
    config = Configurator(
        settings={
            "warehouse": settings,
            "tm.manager_hook": "pyramid_tm.explicit_manager",
            "tm.annotate_user": False,
        }
    )
    for key, value in registry_extras.items():
        config.registry[key] = value
    config.include("pyramid_services")
    config.include("pyramid_tm")
    config.include("warehouse.unavailable")
    config.include("warehouse.logging")
    config.include("warehouse.proxies")
    config.include("warehouse.db")
    config.include("warehouse.redis")
    config.include("warehouse.ratelimit")
    config.include("warehouse.accounts")
    config.include("warehouse.tokens")
    config.include("warehouse.storage")
    config.include("warehouse.tasks")
    config.include("warehouse.cdn")
    config.include("warehouse.search")
    config.include("warehouse.search.opensearch")
    config.include("warehouse.packaging")
    config.include("warehouse.upload")
    config.include("warehouse.api")
    config.include("warehouse.stats")
    config.include("warehouse.xmlrpc")
    config.include("warehouse.changes")
    config.include("warehouse.rss")
    config.include("warehouse.health")
    config.include("warehouse.email.sns")
    config.include("warehouse.metrics")
    config.include("warehouse.headers")
    config.include("warehouse.compression")
    config.include("warehouse.web")
    config.include("warehouse.manage")
    config.include("warehouse.admin")
    config.include("warehouse.scanning.views")
    config.include("warehouse.upstreams")
    return config


def make_wsgi_app(settings: Settings | None = None, **registry_extras) -> SimpleFastPath:
    """The application gunicorn serves (under :mod:`warehouse.asgi`'s front)."""
    return wsgi_app(configure(settings, **registry_extras))


def wsgi_app(config: Configurator) -> SimpleFastPath:
    """The one WSGI application a Configurator makes, for gunicorn and tests alike: installers'
    reads (``/simple``, ``/packages/``) answered in front of the router, everything else by it."""
    return SimpleFastPath(config.make_wsgi_app())
