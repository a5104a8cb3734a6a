"""Health endpoints for load balancers and orchestrators.

* ``/_health/``: the process is up and the database answers (the CDN's probe; an app whose
  database is gone cannot answer anything useful).
* ``/_health/ready``: the database and Redis both answer; 503 otherwise, naming what failed.
  For a load balancer that should stop sending traffic to an instance until both are back.
"""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from pyramid.view import view_config

log = structlog.get_logger(__name__)


@view_config(route_name="health", renderer="json", request_method="GET")
def health(request):
    request.db.execute(sa.text("SELECT 1"))
    request.response.headers["Cache-Control"] = "no-store"
    return {"status": "ok"}


@view_config(route_name="health.ready", renderer="json", request_method="GET")
def ready(request):
    checks = {}
    # Straight from the engine, not request.db: a failure must answer 503, not roll back a
    # request transaction and render an error page.
    try:
        with request.registry["db.engine"].connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        request.registry["redis.client"].ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    if not healthy:
        log.warning("not ready", **checks)
    request.response.status_code = 200 if healthy else 503
    request.response.headers["Cache-Control"] = "no-store"
    return {"status": "ok" if healthy else "unavailable", "checks": checks}


def includeme(config) -> None:
    config.add_route("health", "/_health/")
    config.add_route("health.ready", "/_health/ready")
    config.scan(__name__)
