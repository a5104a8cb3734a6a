"""Managing projects: the pages under ``/manage/project(s)/`` and the JSON management API
under ``/api/projects/``.

``config.include("warehouse.manage")`` adds both; it needs ``warehouse.web`` (the layout) and
``warehouse.accounts`` (sessions, CSRF, the security policy), which it includes too.
"""

from __future__ import annotations

import warehouse.manage.models  # noqa: F401  (registers the invitations table)


def includeme(config) -> None:
    # Idempotent, like warehouse.web: tests include it whether or not configure() has.
    if config.registry.get("warehouse.manage.included"):
        return
    config.registry["warehouse.manage.included"] = True
    config.include("warehouse.accounts")
    config.include("warehouse.web")
    config.include("warehouse.manage.api")
    config.include("warehouse.manage.views")
