"""What the queues hold: depth per queue, the beat schedule, recent failures.

Depths are asked of the broker through kombu, so the same code answers for Redis (the length
of the queue's list) and SQS (``ApproximateNumberOfMessages``).
"""

from __future__ import annotations

import datetime
import json

import celery.schedules
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


BEAT_SENT_KEY = "warehouse:beat:sent"


def record_beat_sent(redis, job: str, when: datetime.datetime | None = None) -> None:
    """Note that beat sent ``job`` (called by beat's scheduler, see warehouse.tasks)."""
    when = when or datetime.datetime.now(datetime.UTC)
    redis.hset(BEAT_SENT_KEY, job, when.isoformat())


def schedule(app, redis=None, now: datetime.datetime | None = None) -> list[dict]:
    """Each beat job with how often it runs, when beat last sent it and when it is next due.

    Without a record of a last run (beat never sent it, or Redis is unreachable) the last and
    next runs are None: beat sends a job it has no record of as soon as it starts.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    sent: dict[str, str] = {}
    if redis is not None:
        try:
            sent = {_text(job): _text(when) for job, when in redis.hgetall(BEAT_SENT_KEY).items()}
        except Exception as exc:  # noqa: BLE001 - the page still lists the schedule
            log.warning("queues.beat_sent_unreadable", error=str(exc))
    rows = []
    for name, entry in sorted((app.conf.beat_schedule or {}).items()):
        every = celery.schedules.maybe_schedule(entry["schedule"], app=app)
        last = datetime.datetime.fromisoformat(sent[name]) if name in sent else None
        next_run = None
        if last is not None:
            next_run = now + every.remaining_estimate(last)
        rows.append(
            {
                "name": name,
                "task": entry["task"],
                "every": _describe(entry["schedule"]),
                "last_run": last,
                "next_run": next_run,
            }
        )
    return rows


def _describe(value) -> str:
    if isinstance(value, int | float):
        seconds = int(value)
        if seconds % 3600 == 0:
            return f"every {seconds // 3600} h"
        if seconds % 60 == 0:
            return f"every {seconds // 60} min"
        return f"every {seconds} s"
    if isinstance(value, celery.schedules.crontab):
        return (
            f"cron {value._orig_minute} {value._orig_hour} {value._orig_day_of_month} "
            f"{value._orig_month_of_year} {value._orig_day_of_week} (UTC)"
        )
    return str(value)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
