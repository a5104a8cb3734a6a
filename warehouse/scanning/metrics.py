"""Prometheus figures for scanning: files scanned (by trigger and verdict), scan time, scans
that did not finish, holds; and, read at scrape time, the global runs' pending releases."""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

log = structlog.get_logger(__name__)

FILES = Counter(
    "warehouse_scan_files_total",
    "Files scanned, by trigger (upload, run) and verdict (clean, suspicious, malicious)",
    ["trigger", "verdict"],
)
SECONDS = Histogram(
    "warehouse_scan_seconds",
    "Time to scan one file",
    ["trigger"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
UNFINISHED = Counter(
    "warehouse_scan_unfinished_total",
    "Scans that did not finish: an upload past its budget (held pending), a child that "
    "crashed or hit its time or memory limit",
    ["trigger", "why"],
)
HOLDS = Counter("warehouse_scan_holds_total", "Releases held, by reason", ["reason"])

COUNTERS = (FILES, SECONDS, UNFINISHED, HOLDS)


def observe(trigger: str, verdict: str, seconds: float) -> None:
    FILES.labels(trigger, verdict).inc()
    SECONDS.labels(trigger).observe(seconds)


class RunCollector:
    """Releases still pending in unfinished global runs (the scan queue's real depth)."""

    def __init__(self, context_getter):
        self.context_getter = context_getter

    def collect(self):
        from warehouse.scanning.models import ScanRun, ScanRunItem

        pending = GaugeMetricFamily(
            "warehouse_scan_run_pending_releases",
            "Releases not yet scanned by an unfinished global scan run",
            labels=["run"],
        )
        try:
            ctx = self.context_getter()
            if ctx is not None:
                with ctx.session() as session:
                    rows = session.execute(
                        sa.select(ScanRunItem.run_id, sa.func.count())
                        .join(ScanRun, ScanRun.id == ScanRunItem.run_id)
                        .where(ScanRun.finished.is_(None), ScanRunItem.state == "pending")
                        .group_by(ScanRunItem.run_id)
                    ).all()
                for run_id, count in rows:
                    pending.add_metric([str(run_id)], count)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database did
            log.warning("could not count pending scan releases", exc_info=True)
        yield pending
