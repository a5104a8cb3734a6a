"""The website: server-rendered pages, their templates and static files.

``config.include("warehouse.web")`` sets up Jinja2 (``.html`` templates, autoescaped), the
``/static/`` files, the security headers on every response, the HTML error pages and the
pages of each area (see :mod:`warehouse.web.views`). How to add a page: docs/website.md.
"""

from __future__ import annotations

from warehouse.web.rendering import SETTINGS_PREFIX, configure_environment, jinja2_settings
from warehouse.web.static import ContentHashCacheBuster

STATIC_SPEC = "warehouse.web:static/"
# Asset URLs carry a hash of the file's bytes, so a cached copy can never be stale.
STATIC_MAX_AGE = 365 * 24 * 3600

# One module per area; each has an ``includeme`` that adds its routes and views.
AREAS = (
    "warehouse.web.views.home",
    "warehouse.web.views.projects",
    "warehouse.web.views.users",
    "warehouse.web.views.search",
    "warehouse.web.views.classifiers",
    "warehouse.web.views.help",
    "warehouse.web.views.errors",
)


def includeme(config) -> None:
    # Idempotent, so that tests can include it whether or not configure() already has.
    if config.registry.get("warehouse.web.included"):
        return
    config.registry["warehouse.web.included"] = True
    # Read by pyramid_jinja2 when its deferred action builds the environment.
    config.add_settings(jinja2_settings())
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html", settings_prefix=SETTINGS_PREFIX)
    config.add_jinja2_search_path("warehouse.web:templates", name=".html")
    # pyramid_jinja2 builds the environment in a deferred action; decorate it afterwards.
    config.action(
        None,
        lambda: configure_environment(config.get_jinja2_environment(".html")),
        order=999,
    )

    config.add_static_view("static", STATIC_SPEC, cache_max_age=STATIC_MAX_AGE)
    config.add_cache_buster(STATIC_SPEC, ContentHashCacheBuster())

    for area in AREAS:
        config.include(area)
