"""Every module that defines tables, so that Alembic and tests see the whole schema."""

import importlib

MODEL_MODULES = (
    "warehouse.accounts.models",
    "warehouse.admin.models",
    "warehouse.api.models",
    "warehouse.events.models",
    "warehouse.manage.models",
    "warehouse.packaging.models",
    "warehouse.scanning.models",
    "warehouse.search.models",
    "warehouse.stats.models",
    "warehouse.storage.models",
    "warehouse.storage.verify.models",
    "warehouse.tokens.models",
    "warehouse.upstreams.models",
)


def import_all() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
