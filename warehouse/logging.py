"""Structured logs: JSON lines in production, readable lines in development.

The same configuration serves the web and uploads apps (through :func:`includeme`) and the
Celery worker (:mod:`warehouse.metrics.celery` calls :func:`configure_logging`). Lines that
other libraries write through the standard ``logging`` module (gunicorn, Celery) are
rendered the same way, so a log shipper sees one format per process.

Every web request gets a request id, taken from ``X-Request-ID`` when the CDN or load balancer
sent a sane one, else made up; it is on each log line the request writes and is sent back in
the response's ``X-Request-ID``, so a user's report can be matched to our logs.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid

import structlog

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(fmt: str):
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    # Plain tracebacks: rich's, with every frame's source highlighted and its locals, took
    # seconds on a busy machine, and a request that logs an error waited for them.
    return structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(fmt: str) -> None:
    # JSON lines carry a traceback as a string field; the console renderer prints its own.
    exc = [structlog.processors.format_exc_info] if fmt == "json" else []
    structlog.configure(
        processors=[*_SHARED, *exc, _renderer(fmt)],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: structlog.testing.capture_logs must see loggers made before it runs.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if fmt == "json":
        use_json_for_stdlib(logging.getLogger())


def use_json_for_stdlib(logger: logging.Logger) -> None:
    """Render the records of ``logger``'s handlers as JSON lines too."""
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
    )
    for handler in logger.handlers:
        handler.setFormatter(formatter)


def request_id_tween_factory(handler, registry):
    def tween(request):
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = handler(request)
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    return tween


def includeme(config) -> None:
    configure_logging(config.registry.settings["warehouse"].log_format)
    config.add_tween("warehouse.logging.request_id_tween_factory")
