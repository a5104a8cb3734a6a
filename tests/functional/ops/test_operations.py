"""Operating the index: health endpoints, /metrics, request ids, JSON logs, `warehouse queues`."""

from __future__ import annotations

import io
import json
import logging

import pytest
import redis as redis_lib
import structlog
import webtest
from click.testing import CliRunner

from tests.support.celery_worker import celery_app_for
from warehouse import tasks
from warehouse.cli.queues import queues
from warehouse.config import configure, wsgi_app
from warehouse.metrics import celery as _task_signals  # noqa: F401  (connects the signals)

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


@tasks.app.task(name="tests.ops.ok")
def ok_task() -> None:
    pass


@tasks.app.task(name="tests.ops.broken")
def broken_task() -> None:
    raise ValueError("broken on purpose")


def test_health_and_readiness(webapp):
    assert webapp.get("/_health/").json == {"status": "ok"}
    ready = webapp.get("/_health/ready")
    assert ready.json["checks"] == {"database": "ok", "redis": "ok"}
    assert ready.headers["Cache-Control"] == "no-store"


def test_not_ready_without_redis(settings, clean_database):
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    app = webtest.TestApp(
        wsgi_app(configure(settings, **{"db.engine": clean_database, "redis.client": dead}))
    )
    response = app.get("/_health/ready", status=503)
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"].startswith("error")


def test_metrics_only_for_allowed_addresses(webapp):
    webapp.get("/metrics", extra_environ={"REMOTE_ADDR": "203.0.113.9"}, status=404)
    webapp.get("/_health/")
    text = webapp.get("/metrics", extra_environ=LOOPBACK).text
    assert 'warehouse_http_requests_total{method="GET",route="health",status="200"}' in text
    assert "warehouse_http_request_duration_seconds_bucket" in text
    assert "# TYPE warehouse_queue_depth gauge" in text


def test_task_metrics(webapp, settings):
    with celery_app_for(settings, task_always_eager=True):
        ok_task.delay()
        broken_task.apply()
    text = webapp.get("/metrics", extra_environ=LOOPBACK).text
    assert 'warehouse_tasks_total{state="success",task="tests.ops.ok"}' in text
    assert 'warehouse_tasks_total{state="failure",task="tests.ops.broken"}' in text
    assert 'warehouse_task_duration_seconds_count{task="tests.ops.ok"}' in text


def test_request_id_is_echoed_or_made_and_logged(webapp, settings):
    given = webapp.get("/_health/", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = webapp.get("/_health/", headers={"X-Request-ID": "bad id\x01"})
    assert len(made.headers["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id():
    from warehouse.logging import configure_logging

    out = io.StringIO()
    try:
        configure_logging("json")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(out))
        structlog.contextvars.bind_contextvars(request_id="r-1")
        structlog.get_logger("x").info("hello", n=1)
        line = json.loads(out.getvalue().strip())
        assert line["event"] == "hello" and line["request_id"] == "r-1" and line["level"] == "info"
        record = logging.LogRecord("celery", logging.INFO, "f", 1, "ready.", (), None)
        handler = logging.getLogger().handlers[0]
        assert json.loads(handler.format(record))["event"] == "ready."
    finally:
        structlog.contextvars.clear_contextvars()
        configure_logging("console")
        for handler in logging.getLogger().handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))


@pytest.mark.xdist_group("celery")
def test_queues_command(settings, redis_server, monkeypatch):
    broker = redis_lib.Redis.from_url(redis_server.url(1))
    broker.flushdb()
    redis_lib.Redis.from_url(redis_server.url(2)).flushdb()
    with celery_app_for(settings):
        ok_task.send_now()
        ok_task.send_now()
        # A failure, as a worker would store it.
        tasks.app.backend.mark_as_failure("failed-1", ValueError("broken on purpose"))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    result = CliRunner().invoke(queues, [])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split() == ["celery", "2"] for line in lines), result.output
    assert "cache-reconcile" in result.output
    assert "failed-1" in result.output and "broken on purpose" in result.output
    broker.flushdb()


def _behind_cdn(settings, clean_database, redis_client, **changes) -> webtest.TestApp:
    settings = settings.replace(trusted_proxies="127.0.0.1", **changes)
    config = configure(settings, **{"db.engine": clean_database, "redis.client": redis_client})
    return webtest.TestApp(wsgi_app(config))


def _via_cdn(client: str) -> dict[str, str]:
    # What Varnish sends: its own address as the peer, the client's appended to the header.
    return {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": f"198.51.100.99, {client}"}


def test_per_ip_rate_limits_count_the_client_behind_the_cdn(settings, clean_database, redis_client):
    from warehouse.settings import RateLimit

    app = _behind_cdn(settings, clean_database, redis_client, xmlrpc_ratelimit=RateLimit(1, 3600))
    call = b"<?xml version='1.0'?><methodCall><methodName>changelog_last_serial</methodName></methodCall>"

    def refused(environ) -> bool:
        response = app.post("/pypi", call, content_type="text/xml", extra_environ=environ)
        return "Too many requests" in response.text

    assert not refused(_via_cdn("203.0.113.1"))
    # Another client behind the same CDN has a budget of its own ...
    assert not refused(_via_cdn("203.0.113.2"))
    # ... and the first has used up its own, whatever it writes in the header itself.
    assert refused(_via_cdn("203.0.113.1"))
    # From a peer that is not a trusted proxy, X-Forwarded-For is not believed.
    stranger = {"REMOTE_ADDR": "192.0.2.5", "HTTP_X_FORWARDED_FOR": "203.0.113.3"}
    assert not refused(stranger)
    assert refused({**stranger, "HTTP_X_FORWARDED_FOR": "203.0.113.4"})


def test_metrics_never_answer_through_the_cdn(settings, clean_database, redis_client):
    app = _behind_cdn(settings, clean_database, redis_client)
    # The client named is an allowed address, but the request came through the CDN.
    app.get("/metrics", extra_environ=_via_cdn("127.0.0.1"), status=404)
    assert "warehouse_http_requests_total" in app.get("/metrics", extra_environ=LOOPBACK).text
