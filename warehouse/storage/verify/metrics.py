"""Figures of store verification, for Prometheus.

Counters move as a run goes (keys settled, problems found, files found unavailable); the
gauges (last full pass, problems of the last finished run, progress of the open runs) are
read from the database when scraped, so every process answers the same.
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

log = structlog.get_logger(__name__)

KEYS = Counter(
    "warehouse_storage_verify_keys_total", "Keys settled by store verification", ["store"]
)
PROBLEMS_FOUND = Counter(
    "warehouse_storage_verify_problems_total",
    "Problems found by store verification, by class",
    ["store", "kind"],
)
UNAVAILABLE = Counter(
    "warehouse_storage_verify_unavailable_files_total",
    "Files found with no good copy in any store (alert on any increase)",
    ["store"],
)

COUNTERS = (KEYS, PROBLEMS_FOUND, UNAVAILABLE)


def record_finished_run(run, counts: dict[str, int]) -> None:
    log.info("verify figures", run=run.id, store=run.store, **counts)


class VerifyCollector:
    """Gauges from the runs table: what a dashboard needs to see that passes keep coming."""

    def __init__(self, context_getter):
        self.context_getter = context_getter

    def collect(self):
        import sqlalchemy as sa

        from warehouse.storage.verify.models import VerifyRun
        from warehouse.storage.verify.runner import PROBLEMS, progress, totals

        last_pass = GaugeMetricFamily(
            "warehouse_storage_verify_last_full_pass_timestamp_seconds",
            "When the last finished verification of each store ended",
            labels=["store"],
        )
        problems = GaugeMetricFamily(
            "warehouse_storage_verify_last_run_problems",
            "Problems the last finished verification of each store found, by class",
            labels=["store", "kind"],
        )
        running = GaugeMetricFamily(
            "warehouse_storage_verify_progress_ratio",
            "How far the open verification run of each store has got (0-1)",
            labels=["store", "run"],
        )
        try:
            ctx = self.context_getter()
            if ctx is not None:
                with ctx.session() as session:
                    for store in ("archive", "cache"):
                        run = session.scalars(
                            sa.select(VerifyRun)
                            .where(VerifyRun.store == store, VerifyRun.finished_at.isnot(None))
                            .order_by(VerifyRun.finished_at.desc())
                            .limit(1)
                        ).first()
                        if run is None:
                            continue
                        last_pass.add_metric([store], run.finished_at.timestamp())
                        counts = totals(session, run)
                        for kind in PROBLEMS:
                            problems.add_metric([store, kind], counts[kind])
                    for item in progress(session, limit=10):
                        if item.run.finished_at is None:
                            running.add_metric([item.run.store, str(item.run.id)], item.fraction)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database did
            log.warning("could not read verification figures", exc_info=True)
        yield last_pass
        yield problems
        yield running
