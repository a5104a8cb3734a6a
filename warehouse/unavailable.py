"""A backend a request needs is down: answer 503 with a sentence, not a 500.

PostgreSQL restarting, Redis stopped, the file store unreachable, the upload temporary folder
full: none of these is a bug in the request, and each passes by itself. So the error that
says so becomes ``503 <sentence>`` (the reason phrase twine prints, and the body uv prints)
with ``Retry-After``, wherever it is raised: in a view, in a tween, or in the commit itself
(the tween sits over pyramid_tm). The transaction has been rolled back by then, so a refused
write left nothing behind (an upload's blob is removed on rollback, see
:mod:`warehouse.upload.services`).

The installers' reads answered in front of the router (:mod:`warehouse.api.fastpath`) use
:func:`response_for` the same way.
"""

from __future__ import annotations

import errno

import botocore.exceptions
import kombu.exceptions
import redis
import sqlalchemy as sa
import structlog
from pyramid.response import Response

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 30

_DATABASE = "the index's database is unavailable"
_REDIS = "the index's Redis (cache and task queue) is unavailable"
_FILE_STORE = "the index's file store is unavailable"
_DISK_FULL = "the server has no room left for uploads"
_BROKER = "the index's task queue is unavailable"

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_STORE_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)


def _what_is_down(exc: BaseException) -> str | None:
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return _DATABASE
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return _DATABASE
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return _REDIS
    if isinstance(exc, _STORE_ERRORS):
        return _FILE_STORE
    if isinstance(exc, botocore.exceptions.ClientError):
        # The store answered, but with its own failure (a volume server gone, SlowDown).
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _FILE_STORE if status >= 500 else None
    if isinstance(exc, kombu.exceptions.OperationalError):
        return _BROKER
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return _DISK_FULL
    return None


def what_is_down(exc: BaseException) -> str | None:
    """What a backend error means for the client ("the index's database is unavailable"), or
    None when ``exc`` is not one: a bug must still be a 500. Follows the chain of causes, since
    libraries wrap errors (WebOb a full disk, SQLAlchemy a dropped connection)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (what := _what_is_down(current)) is not None:
            return what
        current = current.__cause__ or current.__context__
    return None


def response_for(exc: BaseException, path: str = "") -> Response | None:
    """``503 <sentence>`` for a backend error, None for any other."""
    what = what_is_down(exc)
    if what is None:
        return None
    log.warning("backend unavailable", path=path, unavailable=what, error=repr(exc))
    message = f"Service unavailable: {what}; try again in a minute."
    return Response(
        status=f"503 {message}",
        body=(message + "\n").encode(),
        content_type="text/plain",
        charset="utf-8",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def unavailable_tween_factory(handler, registry):
    def unavailable_tween(request):
        try:
            return handler(request)
        except Exception as exc:
            response = response_for(exc, request.path_info)
            if response is None:
                raise
            return response

    return unavailable_tween


def includeme(config) -> None:
    # Over pyramid_tm: a failed commit is caught too, after the transaction was rolled back.
    config.add_tween(
        "warehouse.unavailable.unavailable_tween_factory", over="pyramid_tm.tm_tween_factory"
    )
