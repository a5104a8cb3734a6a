"""Scanning's Celery tasks, each on a queue of its own (see ``warehouse.tasks.TASK_QUEUES``):
an upload's scan that did not finish in the request (``scanning-uploads``), and the global
runs' releases (``scanning``), so purges, copies and mail never wait behind a scan."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import structlog

from warehouse.tasks import TaskContext, app

log = structlog.get_logger(__name__)

UPLOAD_QUEUE = "scanning-uploads"
RUN_QUEUE = "scanning"


def child_limits(settings):
    from warehouse.scanning.isolation import ChildLimits

    return ChildLimits(
        cpu_seconds=settings.scan_child_cpu_seconds,
        wall_seconds=settings.scan_child_cpu_seconds * 1.5,
        memory_bytes=settings.scan_child_memory_mb * 1024 * 1024,
    )


@contextlib.contextmanager
def workdir(ctx: TaskContext) -> Iterator[Path]:
    """A worker-local scratch folder, removed afterwards (under ``scan_workdir`` if set)."""
    base = ctx.settings.scan_workdir or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scan-", dir=base) as scratch:
        yield Path(scratch)


def prefetch(ctx: TaskContext, key: str, destination: Path) -> Path:
    """Copy blob ``key`` to ``destination``: from the cache store, else from the archive."""
    from warehouse.storage.interfaces import BlobNotFound

    stores = [ctx.cache, ctx.archive] if ctx.has_separate_cache else [ctx.archive]
    for number, store in enumerate(stores, start=1):
        try:
            with store.open(key) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            return destination
        except BlobNotFound:
            if number == len(stores):
                raise
        except Exception:
            if number == len(stores):
                raise
            log.warning("scan.prefetch_from_cache_failed", key=key, exc_info=True)
    raise BlobNotFound(key)


@app.task(name="warehouse.scanning.tasks.finish_upload_scan", bind=True, max_retries=10)
def finish_upload_scan(self, file_id: int) -> str | None:
    """Scan an uploaded file whose scan did not finish during the upload (its release is held
    as pending meanwhile), in a child under limits; idempotent."""
    from warehouse.scanning.uploads import ScanAttemptFailed, finish_pending_scan

    try:
        return finish_pending_scan(self.ctx, file_id, attempt=self.request.retries + 1)
    except ScanAttemptFailed as exc:
        raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc


@app.task(name="warehouse.scanning.tasks.scan_release", bind=True, max_retries=10)
def scan_release(self, run_id: int, item_id: int) -> str:
    """One release of a global run: prefetch, scan each file in a child, record; idempotent."""
    from warehouse.scanning.runs import RetryLater, scan_run_item

    try:
        return scan_run_item(self.ctx, run_id, item_id)
    except RetryLater as exc:
        raise self.retry(exc=exc, countdown=10 * (self.request.retries + 1)) from exc


@app.task(name="warehouse.scanning.tasks.rescan_changed_rules", bind=True)
def rescan_changed_rules(self) -> int | None:
    """Beat: start a ``changed-rules`` run when the rules' version moved since the last run."""
    from warehouse.scanning.runs import start_run_for_new_rules

    return start_run_for_new_rules(self.ctx)
