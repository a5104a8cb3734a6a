"""Download statistics from the CDN's logs.

* :mod:`~warehouse.stats.logs`: varnishncsa's log file here, rotated and shipped to ``logs/``;
* :mod:`~warehouse.stats.lines` and :mod:`~warehouse.stats.ingest`: lines into daily counts,
  each log object counted once and only once (:mod:`~warehouse.stats.tasks`, queue ``stats``);
* :mod:`~warehouse.stats.models`: the daily aggregates, by project and dimension;
* :mod:`~warehouse.stats.views`: pypistats.org's API, the statistics page with its charts
  (:mod:`~warehouse.stats.charts`), the CSV, a maintainer's view;
* :mod:`~warehouse.stats.origin`: the headers the file view gives the CDN to log.

See docs/statistics.md.
"""

from __future__ import annotations


def includeme(config) -> None:
    from warehouse.stats.interfaces import IStatsService
    from warehouse.stats.services import stats_service_factory

    config.register_service_factory(stats_service_factory, IStatsService)
    config.include("warehouse.stats.views")
