"""``POST /pypi`` and ``POST /RPC2``: thin, everything else is in protocol and methods."""

from __future__ import annotations

import redis as redis_lib
import structlog
from pyramid.response import Response

from warehouse.api.cache import snapshot_session
from warehouse.api.common import files_base, pages
from warehouse.ratelimit import RateLimiter
from warehouse.xmlrpc.methods import METHODS, Call
from warehouse.xmlrpc.protocol import (
    APPLICATION_ERROR,
    INTERNAL_ERROR,
    MAX_REQUEST_BYTES,
    METHOD_NOT_FOUND,
    Fault,
    Marshalled,
    bind_arguments,
    dumps_fault,
    dumps_result,
    parse_call,
    too_large,
)

log = structlog.get_logger(__name__)


def xmlrpc_view(request):
    limiter = RateLimiter(request.redis, "xmlrpc", request.registry["xmlrpc.ratelimit"])
    if not _hit(limiter, request.remote_addr or "unknown"):
        retry = limiter.retry_after()
        fault = Fault(
            APPLICATION_ERROR,
            "Too many requests: this client has used up its XML-RPC rate limit. "
            f"Limit may reset in {retry} seconds.",
        )
        return _xml(dumps_fault(fault), [("Retry-After", str(retry))])
    try:
        name, params = parse_call(_read_body(request))
        body = _answer(request, name, params)
    except Fault as fault:
        body = dumps_fault(fault)
    return _xml(body)


def _hit(limiter: RateLimiter, identifier: str) -> bool:
    try:
        return limiter.hit(identifier)
    except redis_lib.RedisError:
        # Without Redis there is no shared count: serve rather than refuse everyone.
        log.warning("xmlrpc rate limit unavailable", exc_info=True)
        return True


def _read_body(request) -> bytes:
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise too_large()  # without reading it
    return request.body_file.read(MAX_REQUEST_BYTES + 1)


def _answer(request, name: str, params: tuple) -> bytes:
    method = METHODS.get(name)
    if method is None:
        raise Fault(
            METHOD_NOT_FOUND,
            f"method {name!r} does not exist. Methods: {', '.join(sorted(METHODS))}.",
        )
    arguments = bind_arguments(name, method, params)
    try:
        with snapshot_session(request.registry["db.engine"]) as session:
            call = Call(
                session=session,
                app_url=request.application_url,
                files_base=files_base(request),
                pages=pages(request),
            )
            result = method(call, *arguments)
            return result if isinstance(result, Marshalled) else dumps_result(result)
    except Exception:  # noqa: BLE001 - the client gets a fault it can parse, we get the trace
        log.exception("xmlrpc method failed", method=name)
        raise Fault(
            INTERNAL_ERROR, f"internal error while answering {name}; try again later"
        ) from None


def _xml(body: bytes, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        body=body,
        headerlist=[
            ("Content-Type", "text/xml; charset=utf-8"),
            # Answers are per call and change with every serial.
            ("Cache-Control", "no-store"),
            *(headers or []),
        ],
    )


def method_not_allowed(request):
    return Response(
        status=405,
        body=b"This is an XML-RPC endpoint: POST a methodCall (Content-Type: text/xml).\n",
        headerlist=[("Content-Type", "text/plain; charset=utf-8"), ("Allow", "POST")],
    )
