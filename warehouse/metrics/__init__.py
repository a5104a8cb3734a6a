"""Prometheus metrics: requests, latencies, tasks, queue depth, files missing from the cache.

gunicorn runs several worker processes, and a scrape reaches only one of them, so with
``PROMETHEUS_MULTIPROC_DIR`` set (a folder emptied before the server starts) every process
writes its counters there and ``/metrics`` adds them up (prometheus_client's multiprocess
mode). gunicorn's ``child_exit`` hook should call :func:`mark_process_dead`.

Queue depth and the cache backlog are read when scraped, not counted: they are facts about
the broker and the database, the same whichever process answers.
"""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Any

import structlog
from celery.signals import after_task_publish
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response

from warehouse import tasks
from warehouse.metrics.queues import queue_depths
from warehouse.proxies import PROXIED_BY
from warehouse.storage.replication import pending_count

log = structlog.get_logger(__name__)

REQUESTS = Counter(
    "warehouse_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "warehouse_http_request_duration_seconds", "Time to answer a request", ["route"]
)
LOOP_READS = Counter(
    "warehouse_web_loop_reads_total",
    "Installer reads (simple pages, files) by where the web app's ASGI front answered them:"
    " on its event loop from memory, or on a thread because they needed Redis, the database"
    " or a remote store",
    ["where"],
)
TASKS = Counter("warehouse_tasks_total", "Celery tasks run, by outcome", ["task", "state"])
TASKS_SENT = Counter(
    "warehouse_tasks_sent_total", "Celery tasks sent to the broker (by apps, beat, tasks)", ["task"]
)
TASK_SECONDS = Histogram(
    "warehouse_task_duration_seconds",
    "Time a Celery task ran",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)


class LiveCollector:
    """Gauges read at scrape time: broker queue depths and files pending for the cache."""

    def __init__(self, context_getter):
        self.context_getter = context_getter

    def collect(self):
        depth = GaugeMetricFamily(
            "warehouse_queue_depth", "Messages waiting in a broker queue", labels=["queue"]
        )
        pending = GaugeMetricFamily(
            "warehouse_cache_pending_files", "Files not yet copied to the cache store"
        )
        try:
            for queue, count in queue_depths(tasks.app).items():
                if count is not None:
                    depth.add_metric([queue], count)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the broker did
            log.warning("could not read queue depths", exc_info=True)
        yield depth
        try:
            ctx = self.context_getter()
            if ctx is not None and ctx.has_separate_cache:
                with ctx.session() as session:
                    pending.add_metric([], pending_count(session))
        except Exception:  # noqa: BLE001
            log.warning("could not count pending cache files", exc_info=True)
        yield pending


def registry_for_scrape(context_getter=None) -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        # One process: its own counters (the default registry would add process and GC
        # metrics that only confuse a multi-process deployment's dashboards).
        from warehouse.storage.verify.metrics import COUNTERS as VERIFY_COUNTERS

        for collector in (REQUESTS, REQUEST_SECONDS, LOOP_READS, TASKS, TASKS_SENT, TASK_SECONDS):
            registry.register(collector)
        from warehouse.scanning.metrics import COUNTERS as SCAN_COUNTERS
        from warehouse.stats.metrics import LINES, OBJECT_SECONDS, OBJECTS
        from warehouse.upstreams.metrics import COUNTERS as UPSTREAM_COUNTERS

        for collector in (
            LINES,
            OBJECTS,
            OBJECT_SECONDS,
            *VERIFY_COUNTERS,
            *SCAN_COUNTERS,
            *UPSTREAM_COUNTERS,
        ):
            registry.register(collector)
    if context_getter is not None:
        from warehouse.stats.metrics import LagCollector
        from warehouse.storage.verify.metrics import VerifyCollector

        registry.register(LiveCollector(context_getter))
        registry.register(LagCollector(context_getter))
        registry.register(VerifyCollector(context_getter))
        from warehouse.scanning.metrics import RunCollector

        registry.register(RunCollector(context_getter))

        from warehouse.upstreams.metrics import LagCollector as UpstreamLagCollector

        registry.register(UpstreamLagCollector(context_getter))
    return registry


def mark_process_dead(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def allowed(address: str | None, allow: str) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for item in allow.split(","):
        item = item.strip()
        if item and ip in ipaddress.ip_network(item, strict=False):
            return True
    return False


def metrics_view(request):
    settings = request.registry.settings["warehouse"]
    # Not for the public: it tells how busy we are and what fails. The scraper asks each
    # process directly; nothing that came through the CDN is answered, whichever client it
    # names (the VCL refuses /metrics too, but not every spelling the router accepts).
    if request.environ.get(PROXIED_BY) or not allowed(request.remote_addr, settings.metrics_allow):
        raise HTTPNotFound()
    ctx = request.registry.get("tasks.context")
    body = generate_latest(registry_for_scrape(lambda: ctx))
    response = Response(body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0])
    response.headers["Cache-Control"] = "no-store"
    return response


@after_task_publish.connect
def _count_task_sent(sender=None, **_kwargs) -> None:
    # ``sender`` is the task's name. Fires in whichever process sends: apps, beat, workers.
    TASKS_SENT.labels(sender or "").inc()


# The labelled children, looked up once: ``labels()`` costs more than the update itself,
# and the simple API's fast path counts thousands of requests a second.
_request_children: dict[tuple[str, str, int], tuple] = {}
_loop_read_children: dict[str, Any] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    children = _request_children.get((route, method, status))
    if children is None:
        children = _request_children[(route, method, status)] = (
            REQUESTS.labels(route, method, str(status)),
            REQUEST_SECONDS.labels(route),
        )
    children[0].inc()
    children[1].observe(seconds)


def count_loop_read(where: str) -> None:
    """One installer read answered ``where`` ("loop" or "thread"); see warehouse.asgi."""
    child = _loop_read_children.get(where)
    if child is None:
        child = _loop_read_children[where] = LOOP_READS.labels(where)
    child.inc()


def metrics_tween_factory(handler, registry):
    def tween(request):
        start = time.perf_counter()
        status = 500
        try:
            response = handler(request)
            status = response.status_code
            return response
        finally:
            route = request.matched_route.name if request.matched_route else "none"
            observe_request(route, request.method, status, time.perf_counter() - start)

    return tween


def includeme(config) -> None:
    config.add_route("metrics", "/metrics")
    config.add_view(metrics_view, route_name="metrics", request_method="GET")
    config.add_tween("warehouse.metrics.metrics_tween_factory")
