"""Downloads through an upstream, counted under the upstream's name.

A mirrored project's downloads count in its own statistics like any project's. They also
count in the ``upstream`` dimension of the daily aggregates: category = the name of the
upstream the downloaded file was mirrored from (a local file of a shared project adds
nothing there). So ``/api/packages/<p>/upstream`` breaks a project's downloads down by
upstream, and ``/api/upstreams/<name>/…`` sums them over every project of that upstream.

The CDN's log line (PyPI's format) names the project and version, not the upstream; the
upstream is attributed when a log object is counted, from the releases' files here: a
release whose files came from upstream X is X's. One query per log object, for the
projects it names, and none at all on an index without upstreams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.packaging.models import File, Project, Release
from warehouse.upstreams.models import Upstream, UpstreamFile

DIMENSION = "upstream"


def releases_by_upstream(session: orm.Session, projects: Iterable[str]) -> dict:
    """(normalized project, version) -> upstream name, for the releases of ``projects``
    mirrored from an upstream."""
    names = sorted(set(projects))
    if not names or not session.scalar(sa.select(sa.exists(sa.select(Upstream.id)))):
        return {}
    rows = session.execute(
        sa.select(Project.normalized_name, Release.version, Upstream.name)
        .select_from(UpstreamFile)
        .join(File, File.id == UpstreamFile.file_id)
        .join(Release, Release.id == File.release_id)
        .join(Project, Project.id == Release.project_id)
        .join(Upstream, Upstream.id == UpstreamFile.upstream_id)
        .where(Project.normalized_name.in_(names))
        .distinct()
    ).all()
    return {(project, version): upstream for project, version, upstream in rows}


def with_upstream_rows(rows: Iterable[tuple], releases: dict) -> Iterator[tuple]:
    """``rows`` (``(project, dimension, day, category, mirror, downloads)``, each key once, as
    :meth:`warehouse.stats.lines.Aggregates.rows` yields them), then the downloads of the
    releases mirrored from an upstream in the ``upstream`` dimension."""
    if not releases:
        yield from rows
        return
    # Several versions of a project share one key here: summed, each key yielded once.
    through: dict[tuple, int] = {}
    for row in rows:
        yield row
        if row[1] == "version":
            upstream = releases.get((row[0], row[3]))
            if upstream is not None:
                key = (row[0], DIMENSION, row[2], upstream, row[4])
                through[key] = through.get(key, 0) + row[5]
    for key, downloads in through.items():
        yield (*key, downloads)


# Reading ---------------------------------------------------------------------------------


def daily(session: orm.Session, upstream: str, since=None) -> list[tuple]:
    """``(day, with mirrors, without mirrors)`` downloads through ``upstream``, by day."""
    from warehouse.stats.models import DailyDownloads as t

    query = sa.select(
        t.day,
        sa.func.sum(t.downloads),
        sa.func.coalesce(sa.func.sum(t.downloads).filter(t.mirror.is_(False)), 0),
    ).where(t.dimension == DIMENSION, t.category == upstream)
    if since is not None:
        query = query.where(t.day >= since)
    query = query.group_by(t.day).order_by(t.day)
    return [(day, int(w), int(wo)) for day, w, wo in session.execute(query)]


def recent(session: orm.Session, upstreams: Iterable[str], today=None) -> dict[str, dict]:
    """Last day, week and month (without mirrors, as a project's recent figures) through
    each of ``upstreams``."""
    from warehouse.stats.models import DailyDownloads as t
    from warehouse.stats.services import recent_windows

    return recent_windows(session, t.category, t.dimension == DIMENSION, upstreams, today)
