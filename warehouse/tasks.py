"""The Celery app: background work that follows a committed change.

One app for every task. The broker is Redis locally (a database of its own, 1 by default) and
SQS in production (``WAREHOUSE_BROKER_URL=sqs://``); results, which are kept only for tasks
that failed, go to Redis. The beat schedule is here, in code.

Sending after the commit. ``task.delay()`` inside a web request or inside a task's
``ctx.session()`` is held back until that transaction commits, and dropped if it rolls back:
a worker must never act on rows it cannot see yet, or on a change that never happened.
Everything else sends at once.

Tasks are idempotent (running one twice does no harm: the broker may deliver twice) and are
retried with exponential backoff on errors that are likely to pass (a connection refused, a
timeout, a CDN that did not confirm a purge; boto3 retries S3's own 5xx answers). They reach the database, Redis and the stores through a
:class:`TaskContext`, never through a Pyramid request.

    celery -A warehouse.tasks worker      # make serve runs both
    celery -A warehouse.tasks beat
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import botocore.exceptions
import celery
import celery.beat
import celery.schedules
import kombu
import kombu.exceptions
import redis as redis_lib
import sqlalchemy as sa
import structlog
from celery.signals import worker_process_init
from celery.utils import uuid
from pyramid.threadlocal import get_current_request
from sqlalchemy import orm
from transaction.interfaces import NoTransaction

from warehouse import db
from warehouse.cdn.purge import purger_from_settings
from warehouse.settings import Settings
from warehouse.storage import cache_storage_from_settings, storage_from_settings
from warehouse.storage.interfaces import IFileStorage

log = structlog.get_logger(__name__)

# Modules whose tasks the worker must know. Other packages add theirs here.
TASK_MODULES = [
    "warehouse.storage.tasks",
    "warehouse.cdn.tasks",
    "warehouse.search.tasks",
    "warehouse.email.tasks",
    "warehouse.metrics.celery",
    "warehouse.stats.tasks",
    "warehouse.scanning.tasks",
    "warehouse.upstreams.tasks",
    "warehouse.upload.tasks",
]
# The queue of store verification tasks: long passes over a whole store.
VERIFY_QUEUE = "storage-verify"
# Tasks with a queue of their own, so a backlog of them never delays the others.
TASK_QUEUES = {
    "warehouse.stats.tasks.count_log": "stats",
    "warehouse.stats.tasks.ship_logs": "stats",
    "warehouse.stats.tasks.discover_logs": "stats",
    "warehouse.stats.tasks.count_logs": "stats",
    "warehouse.stats.tasks.nightly": "stats",
    "warehouse.stats.tasks.compact_month": "stats",
    "warehouse.stats.tasks.compact_share": "stats",
    "warehouse.stats.tasks.rebuild_key": "stats",
    "warehouse.storage.tasks.verify_range": VERIFY_QUEUE,
    "warehouse.storage.tasks.verify_slice": VERIFY_QUEUE,
    # An upload's scan that did not finish in the request: its release waits for it.
    "warehouse.scanning.tasks.finish_upload_scan": "scanning-uploads",
    # The global scan's releases, and beat's check for new rules.
    "warehouse.scanning.tasks.scan_release": "scanning",
    "warehouse.scanning.tasks.rescan_changed_rules": "scanning",
    "warehouse.upstreams.tasks.sync_all": "upstreams",
    "warehouse.upstreams.tasks.sync_project": "upstreams",
    "warehouse.upstreams.tasks.fetch_file": "upstreams",
    "warehouse.upstreams.tasks.sync_upstream": "upstreams",
}

# Errors worth another try later. A task's own permanent failures are not in here.
TRANSIENT_ERRORS = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    redis_lib.ConnectionError,
    redis_lib.TimeoutError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    kombu.exceptions.OperationalError,
)

_bound_session: contextvars.ContextVar[orm.Session | None] = contextvars.ContextVar(
    "warehouse_task_session", default=None
)


# The context tasks run in -------------------------------------------------------------------


@dataclasses.dataclass
class TaskContext:
    """What tasks (and after-commit hooks) use instead of a request's registry."""

    settings: Settings
    engine: sa.Engine
    redis: redis_lib.Redis
    archive: IFileStorage  # every blob, written before an upload answers
    cache: IFileStorage  # what downloads read; the archive itself if not configured
    session_factory: orm.sessionmaker

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskContext:
        archive = storage_from_settings(settings)
        engine = db.create_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            redis=redis_lib.Redis.from_url(
                settings.redis_url, socket_timeout=5, health_check_interval=30
            ),
            archive=archive,
            cache=cache_storage_from_settings(settings, archive),
            session_factory=db.make_session_factory(engine),
        )

    def __post_init__(self) -> None:
        # Sessions this factory makes carry the context, so that the reactions to their
        # commits (warehouse.effects) find the stores and Redis.
        self.session_factory.configure(
            info={db.CONTEXT_INFO_KEY: self, db.REDIS_INFO_KEY: self.redis}
        )

    @property
    def has_separate_cache(self) -> bool:
        return self.cache is not self.archive

    @functools.cached_property
    def purger(self):
        return purger_from_settings(self.settings)

    @contextlib.contextmanager
    def session(self) -> Iterator[orm.Session]:
        """A session that commits when the block succeeds; tasks sent inside it wait for that."""
        session = self.session_factory()
        token = _bound_session.set(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            _bound_session.reset(token)
            session.close()


_context: TaskContext | None = None


def context() -> TaskContext:
    """The process's context: the web app's (see :func:`includeme`), else one from the env."""
    global _context
    if _context is None:
        _context = TaskContext.from_settings(Settings.from_env())
    return _context


def set_context(ctx: TaskContext | None) -> None:
    global _context
    _context = ctx


@worker_process_init.connect
def _after_worker_fork(**_kwargs) -> None:
    # A prefork child must not share the parent's database or Redis connections.
    if _context is not None:
        _context.engine.dispose(close=False)
        _context.redis.connection_pool.reset()


# Sending after the commit -------------------------------------------------------------


def _deferral() -> Callable[[Callable[[], object]], None] | None:
    """How to run something after the current transaction commits; None if there is none."""
    session = _bound_session.get()
    if session is not None:
        if db.running_after_commit(session):
            return None
        return functools.partial(db.after_commit, session)
    request = get_current_request()
    tm = getattr(request, "tm", None) if request is not None else None
    if tm is None:
        return None
    try:
        txn = tm.get()
    except NoTransaction:
        return None

    def defer(callback):
        txn.addAfterCommitHook(lambda committed: committed and callback())

    return defer


# The app ----------------------------------------------------------------------------------


class WarehouseTask(celery.Task):
    """Sent only after the surrounding transaction commits; retried on transient errors."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2  # seconds: 2, 4, 8, ... with jitter
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 12
    # Acknowledged when done, so a worker that dies mid-task leaves it for another.
    acks_late = True
    reject_on_worker_lost = True

    @property
    def ctx(self) -> TaskContext:
        return context()

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        # A retry (Celery passes "retries") goes at once: the session it was raised in is
        # about to roll back, which would drop it.
        defer = _deferral() if options.get("retries") is None else None
        if defer is None:
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or uuid()
        defer(lambda: self.send_now(args, kwargs, task_id=task_id, **options))
        return self.AsyncResult(task_id)

    def send_now(self, args=None, kwargs=None, **options):
        """Send without waiting for any transaction (for code that runs after a commit)."""
        return super().apply_async(args, kwargs, **options)


def redis_db_url(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def beat_schedule(settings: Settings) -> dict:
    # Each run expires when the next is due: a backlog that piled up while no worker ran
    # collapses into one run instead of hundreds.
    return {
        "cache-reconcile": {
            "task": "warehouse.storage.tasks.reconcile_cache",
            "schedule": settings.cache_reconcile_seconds,
            "options": {"expires": settings.cache_reconcile_seconds},
        },
        "cache-audit": {
            "task": "warehouse.storage.tasks.audit_cache",
            "schedule": settings.cache_audit_seconds,
            "options": {"expires": settings.cache_audit_seconds},
        },
        "stats-ship-logs": {
            "task": "warehouse.stats.tasks.ship_logs",
            "schedule": settings.stats_rotate_seconds,
            "options": {"expires": settings.stats_rotate_seconds},
        },
        "stats-discover-logs": {
            "task": "warehouse.stats.tasks.discover_logs",
            "schedule": settings.stats_discover_seconds,
            "options": {"expires": settings.stats_discover_seconds},
        },
        "stats-nightly": {
            "task": "warehouse.stats.tasks.nightly",
            "schedule": celery.schedules.crontab(hour=0, minute=30),
            "options": {"expires": 3600},
        },
        "scan-changed-rules": {
            "task": "warehouse.scanning.tasks.rescan_changed_rules",
            "schedule": 3600,
            "options": {"expires": 3600},
        },
        "upstreams-sync": {
            "task": "warehouse.upstreams.tasks.sync_all",
            "schedule": settings.upstream_sync_seconds,
            "options": {"expires": settings.upstream_sync_seconds},
        },
        "storage-verify-slice": {
            "task": "warehouse.storage.tasks.verify_slice",
            "schedule": 3600,
            "options": {"expires": 3600},
        },
    }


class RecordingScheduler(celery.beat.PersistentScheduler):
    """Beat's own scheduler, which also notes in Redis when it last sent each job.

    The schedule file is beat's alone (another machine cannot read it); Redis is shared, so the
    admin queues page can show each job's last and next run wherever it is served.
    """

    def apply_entry(self, entry, producer=None):
        super().apply_entry(entry, producer=producer)
        from warehouse.metrics.queues import record_beat_sent

        try:
            record_beat_sent(context().redis, entry.name)
        except Exception as exc:  # noqa: BLE001 - a Redis outage must not stop the schedule
            log.warning("beat.record_failed", job=entry.name, error=str(exc))


def celery_config(settings: Settings) -> dict:
    broker = settings.broker_url or redis_db_url(settings.redis_url, 1)
    config = {
        "broker_url": broker,
        "result_backend": settings.result_backend or redis_db_url(settings.redis_url, 2),
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Results are kept for failures only, for whoever looks into them.
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": True,
        "result_expires": 7 * 86400,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time per process: a long copy never holds back a purge that
        # another process could run.
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        # Our log lines go to stdout as they are, not re-logged as warnings by Celery.
        "worker_redirect_stdouts": False,
        # A web request that sends after its commit must not hang on a dead broker for long.
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 1,
        },
        "broker_connection_retry_on_startup": True,
        "beat_schedule": beat_schedule(settings),
        "beat_scheduler": "warehouse.tasks:RecordingScheduler",
        "imports": TASK_MODULES,
        # Workers consume every queue named here unless told otherwise (-Q).
        "task_queues": [
            kombu.Queue(name) for name in ("celery", *sorted(set(TASK_QUEUES.values())))
        ],
        "task_default_queue": "celery",
        "task_routes": {name: {"queue": queue} for name, queue in TASK_QUEUES.items()},
        "timezone": "UTC",
    }
    if broker.startswith("sqs"):
        config["broker_transport_options"] = {
            "region": settings.sqs_region,
            "queue_name_prefix": settings.sqs_queue_prefix,
            "is_secure": settings.sqs_secure,
            # Longer than any task runs, or SQS hands the message to a second worker.
            "visibility_timeout": 3600,
            "wait_time_seconds": 10,
            "polling_interval": 1,
        }
    else:
        config["broker_transport_options"] = {
            "visibility_timeout": 3600,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
        }
    if config["result_backend"].startswith("redis"):
        config["redis_socket_timeout"] = 5
        config["redis_socket_connect_timeout"] = 5
    return config


app = celery.Celery("warehouse", task_cls=WarehouseTask)
# Read lazily, so that importing this module touches no environment; the web app and tests
# override it with their own Settings through configure_app().
app.add_defaults(lambda: celery_config(Settings.from_env()))


def configure_app(settings: Settings, **overrides) -> None:
    config = {**celery_config(settings), **overrides}
    conf = app.conf
    if (conf.broker_url, conf.result_backend) != (config["broker_url"], config["result_backend"]):
        # Forget the connections made for the old broker and backend (kombu keeps its pools
        # per URL, so nothing is closed that the new URL could share).
        app._after_fork()
        app._backend_cache = None
        app._local.__dict__.pop("backend", None)
    conf.update(config)


def includeme(config) -> None:
    """Share the web app's engine, Redis and stores with tasks and commit hooks."""
    registry = config.registry
    settings = registry.settings["warehouse"]
    configure_app(settings)
    ctx = TaskContext(
        settings=settings,
        engine=registry["db.engine"],
        redis=registry["redis.client"],
        archive=registry["storage.instance"],
        cache=registry["storage.cache"],
        session_factory=registry["db.session_factory"],
    )
    registry["tasks.context"] = ctx
    set_context(ctx)
