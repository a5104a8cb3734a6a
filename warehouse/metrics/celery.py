"""Task metrics and log context for Celery workers (a module of ``TASK_MODULES``).

Counts and times every task through Celery's signals, binds the task's id and name to the
log context of the lines it writes, and, with ``WAREHOUSE_WORKER_METRICS_PORT`` (and
``WAREHOUSE_BEAT_METRICS_PORT``), serves ``/metrics`` from the worker (every prefork child
writes to ``PROMETHEUS_MULTIPROC_DIR``) and from beat.
"""

from __future__ import annotations

import time

import structlog
from celery.signals import (
    after_setup_logger,
    beat_init,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    worker_ready,
)

from warehouse.logging import configure_logging, use_json_for_stdlib
from warehouse.metrics import TASK_SECONDS, TASKS, registry_for_scrape
from warehouse.settings import Settings

_LOG_FORMAT = Settings.from_env().log_format
configure_logging(_LOG_FORMAT)


@after_setup_logger.connect
def _json_worker_logs(logger=None, **_kwargs) -> None:
    # Celery sets up its own handlers after importing us: render theirs as JSON too.
    if _LOG_FORMAT == "json" and logger is not None:
        use_json_for_stdlib(logger)


_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id=None, task=None, **_kwargs) -> None:
    _started[task_id] = time.perf_counter()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=task.name)


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **_kwargs) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)
    TASKS.labels(task.name, (state or "UNKNOWN").lower()).inc()
    structlog.contextvars.unbind_contextvars("task_id", "task")


@task_failure.connect
def _task_failed(sender=None, task_id=None, exception=None, **_kwargs) -> None:
    structlog.get_logger("warehouse.tasks").error(
        "task failed", task_id=task_id, task=getattr(sender, "name", ""), error=repr(exception)
    )


@task_retry.connect
def _task_retried(sender=None, reason=None, **_kwargs) -> None:
    TASKS.labels(getattr(sender, "name", ""), "retry_scheduled").inc()


@worker_ready.connect
def _serve_worker_metrics(**_kwargs) -> None:
    from warehouse import tasks

    settings = tasks.context().settings
    _serve(settings.worker_metrics_port, settings.metrics_addr, tasks.context)


@beat_init.connect
def _serve_beat_metrics(**_kwargs) -> None:
    # Beat runs no tasks; its scrape shows what it sent and how deep the queues are.
    from warehouse import tasks

    settings = tasks.context().settings
    _serve(settings.beat_metrics_port, settings.metrics_addr, tasks.context)


def _serve(port: int, addr: str, context_getter) -> None:
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=addr, registry=registry_for_scrape(context_getter))
