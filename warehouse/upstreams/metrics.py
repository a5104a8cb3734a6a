"""Prometheus figures for upstreams: pages and bytes fetched, files fetched, errors, and the
lag of each upstream (read from the database at scrape time)."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

PAGES_FETCHED = Counter(
    "warehouse_upstream_pages_fetched_total",
    "Pages fetched from upstream indexes, by kind (index, project, json)",
    ["kind"],
)
BYTES_FETCHED = Counter(
    "warehouse_upstream_bytes_fetched_total",
    "Bytes fetched from upstream indexes, by kind (page, file)",
    ["kind"],
)
FILES_FETCHED = Counter(
    "warehouse_upstream_files_fetched_total",
    "Files fetched from upstreams, by outcome (stored, streamed, digest_mismatch, failed)",
    ["outcome"],
)
UPSTREAM_ERRORS = Counter(
    "warehouse_upstream_errors_total", "Failed requests to upstreams, by kind", ["kind"]
)
PROJECTS_SYNCED = Counter(
    "warehouse_upstream_projects_synced_total", "Upstream projects applied here"
)
COUNTERS = (PAGES_FETCHED, BYTES_FETCHED, FILES_FETCHED, UPSTREAM_ERRORS, PROJECTS_SYNCED)


class LagCollector:
    """Per upstream: serials behind (target - mirrored), projects queued, seconds since the
    last finished pass."""

    def __init__(self, context_getter):
        self.context_getter = context_getter

    def collect(self):
        behind = GaugeMetricFamily(
            "warehouse_upstream_serials_behind",
            "Upstream serials seen but not yet fully mirrored",
            labels=["upstream"],
        )
        queued = GaugeMetricFamily(
            "warehouse_upstream_projects_queued",
            "Upstream projects waiting to be synced",
            labels=["upstream"],
        )
        age = GaugeMetricFamily(
            "warehouse_upstream_lag_seconds",
            "Seconds since the upstream's last finished sync pass",
            labels=["upstream"],
        )
        ctx = self.context_getter()
        if ctx is not None:
            try:
                with ctx.session() as session:
                    for row in session.execute(_LAG):
                        behind.add_metric([row.name], max(0, (row.target or 0) - row.last))
                        queued.add_metric([row.name], row.queued)
                        if row.age is not None:
                            age.add_metric([row.name], row.age)
            except Exception:  # noqa: BLE001 - a scrape must not fail because the database did
                pass
        yield behind
        yield queued
        yield age


_LAG = sa.text(
    """
SELECT u.name, u.last_serial AS last, u.target_serial AS target,
       extract(epoch FROM now() - u.last_sync_finished) AS age,
       (SELECT count(*) FROM upstream_queue q WHERE q.upstream_id = u.id) AS queued
FROM upstreams u ORDER BY u.name
"""
)
