"""Prometheus figures for log ingest: lines read (its rate is lines per second), objects
counted, and the lag (read at scrape time from the database)."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

LINES = Counter(
    "warehouse_stats_lines_total",
    "CDN log lines read by ingest, by outcome (download, ignored, index, malformed)",
    ["outcome"],
)
OBJECTS = Counter("warehouse_stats_objects_total", "CDN log objects counted")
OBJECT_SECONDS = Histogram(
    "warehouse_stats_object_seconds",
    "Time to tally and write one log object",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

BATCH_ROWS = Histogram(
    "warehouse_stats_batch_rows",
    "Aggregate rows written by one transaction of log objects (their merged counts)",
    buckets=(1e2, 1e3, 1e4, 1e5, 3e5, 1e6, 3e6),
)


def observe_object(tally, seconds: float) -> None:
    LINES.labels("download").inc(tally.downloads)
    LINES.labels("ignored").inc(tally.ignored)
    LINES.labels("index").inc(tally.index_pages)
    LINES.labels("malformed").inc(tally.malformed)
    OBJECTS.inc()
    OBJECT_SECONDS.observe(seconds)


def lag_seconds(session, now: datetime.datetime | None = None) -> float | None:
    """Seconds between now and the newest event counted; None before anything was counted."""
    from warehouse.stats.models import CountedLog

    newest = session.scalar(sa.select(sa.func.max(CountedLog.last_event)))
    if newest is None:
        return None
    now = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (now - newest).total_seconds())


class LagCollector:
    """``warehouse_stats_lag_seconds``, asked of the database when scraped."""

    def __init__(self, context_getter):
        self.context_getter = context_getter

    def collect(self):
        gauge = GaugeMetricFamily(
            "warehouse_stats_lag_seconds", "Age of the newest download counted, in seconds"
        )
        ctx = self.context_getter()
        if ctx is not None:
            try:
                with ctx.session() as session:
                    lag = lag_seconds(session)
                if lag is not None:
                    gauge.add_metric([], lag)
            except Exception:  # noqa: BLE001 - a scrape must not fail because the database did
                pass
        yield gauge
