"""The app the browser tests serve: the whole site, whether or not warehouse.config
includes the website areas yet (every include is idempotent)."""

from warehouse.api.fastpath import SimpleFastPath
from warehouse.config import configure


def make_app():
    config = configure()
    for area in ("warehouse.search", "warehouse.accounts", "warehouse.web", "warehouse.manage"):
        config.include(area)
    return SimpleFastPath(config.make_wsgi_app())


application = make_app()
