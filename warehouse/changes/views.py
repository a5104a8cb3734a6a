"""``GET /api/changes?since=SERIAL&limit=N``: the change feed as JSON (docs/mirroring.md)."""

from __future__ import annotations

import json
import re

from pyramid.response import Response

from warehouse.api.cache import snapshot_session
from warehouse.changes.feed import DEFAULT_LIMIT, MAX_LIMIT, read_page

# Short: a mirror polling the feed wants news within seconds, and a CDN may still absorb
# a crowd of mirrors polling the same cursor.
CACHE_CONTROL = "public, max-age=10"
_DIGITS = re.compile(r"[0-9]{1,18}")  # fits a bigint


class BadRequest(ValueError):
    pass


def _integer(request, name: str, default: int, low: int, high: int) -> int:
    values = request.GET.getall(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadRequest(f"give {name} once")
    if not _DIGITS.fullmatch(values[0]) or not low <= int(values[0]) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(values[0])


def _json(status: int, data: dict, headers: list[tuple[str, str]]) -> Response:
    return Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        headerlist=[
            ("Content-Type", "application/json"),
            ("Access-Control-Allow-Origin", "*"),
            *headers,
        ],
    )


def changes_view(request):
    try:
        since = _integer(request, "since", 0, 0, 10**18 - 1)
        limit = _integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    except BadRequest as exc:
        return _json(400, {"error": str(exc)}, [("Cache-Control", "no-store")])
    with snapshot_session(request.registry["db.engine"]) as session:
        page = read_page(session, since, limit)
    cursor = page.cursor if page.cursor is not None else since
    body = {
        "changes": page.changes,
        "next": request.route_url("changes", _query={"since": cursor, "limit": limit}),
        "last_serial": page.last_serial,
    }
    return _json(
        200,
        body,
        [("Cache-Control", CACHE_CONTROL), ("X-PyPI-Last-Serial", str(page.last_serial))],
    )
