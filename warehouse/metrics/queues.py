"""What the queues hold: depth per queue, the beat schedule, recent failures.

Depths are asked of the broker through kombu, so the same code answers for Redis (the length
of the queue's list) and SQS (``ApproximateNumberOfMessages``).
"""

from __future__ import annotations

import json

import structlog

log = structlog.get_logger(__name__)


def queue_names(app) -> list[str]:
    names = {app.conf.task_default_queue or "celery"}
    for queue in app.conf.task_queues or ():
        names.add(queue.name)
    for route in (
        (app.conf.task_routes or {}).values() if isinstance(app.conf.task_routes, dict) else ()
    ):
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def queue_depths(app) -> dict[str, int | None]:
    """Messages waiting per queue; None for a queue the broker does not have (yet)."""
    depths: dict[str, int | None] = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in queue_names(app):
            try:
                depths[name] = channel.queue_declare(name, passive=True).message_count
            except Exception:  # noqa: BLE001 - a missing queue (SQS creates them on first use)
                depths[name] = None
    return depths


def schedule(app) -> list[dict]:
    rows = []
    for name, entry in sorted((app.conf.beat_schedule or {}).items()):
        rows.append({"name": name, "task": entry["task"], "every": str(entry["schedule"])})
    return rows


def recent_failures(app, limit: int = 20) -> list[dict]:
    """Failed tasks kept by a Redis result backend (only failures keep a result), newest first."""
    backend = app.backend
    client = getattr(backend, "client", None)
    if client is None:
        return []
    prefix = backend.task_keyprefix
    prefix = prefix.decode() if isinstance(prefix, bytes) else prefix
    failures = []
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        raw = client.get(key)
        if not raw:
            continue
        try:
            meta = json.loads(raw)
        except ValueError:
            continue
        if meta.get("status") != "FAILURE":
            continue
        result = meta.get("result") or {}
        failures.append(
            {
                "task_id": meta.get("task_id"),
                "name": meta.get("name") or "",
                "date_done": meta.get("date_done") or "",
                "error": f"{result.get('exc_type', '')}: {result.get('exc_message', '')}",
            }
        )
    failures.sort(key=lambda f: f["date_done"], reverse=True)
    return failures[:limit]
