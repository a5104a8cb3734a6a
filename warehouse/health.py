"""Health endpoint for load balancers: the process is up and the database answers."""

from __future__ import annotations

import sqlalchemy as sa
from pyramid.view import view_config


@view_config(route_name="health", renderer="json", request_method="GET")
def health(request):
    request.db.execute(sa.text("SELECT 1"))
    request.response.headers["Cache-Control"] = "no-store"
    return {"status": "ok"}


def includeme(config) -> None:
    config.add_route("health", "/_health/")
    config.scan(__name__)
