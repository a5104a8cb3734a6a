"""Reading the daily aggregates (see :mod:`warehouse.stats.models`)."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from zope.interface import implementer

from warehouse.stats.interfaces import IStatsService
from warehouse.stats.models import DailyDownloads


def utc_today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


@implementer(IStatsService)
class DatabaseStatsService:
    def __init__(self, session):
        self.session = session

    def recent_many(self, projects, today=None) -> dict:
        today = today or utc_today()
        t = DailyDownloads
        zero = sa.literal(0, sa.BigInteger)
        rows = self.session.execute(
            sa.select(
                t.project,
                sa.func.coalesce(sa.func.sum(t.downloads).filter(t.day >= today), zero),
                sa.func.coalesce(
                    sa.func.sum(t.downloads).filter(t.day >= today - datetime.timedelta(days=6)),
                    zero,
                ),
                sa.func.coalesce(sa.func.sum(t.downloads), zero),
            )
            .where(
                t.project.in_(list(projects)),
                t.dimension == "overall",
                t.mirror.is_(False),
                t.day >= today - datetime.timedelta(days=29),
                t.day <= today,
            )
            .group_by(t.project)
        ).all()
        found = {
            name: {"last_day": int(d), "last_week": int(w), "last_month": int(m)}
            for name, d, w, m in rows
        }
        empty = {"last_day": 0, "last_week": 0, "last_month": 0}
        return {name: found.get(name, dict(empty)) for name in projects}

    def recent(self, project, today=None) -> dict:
        return self.recent_many([project], today)[project]

    def series(self, project, dimension, *, mirrors, since=None) -> list:
        t = DailyDownloads
        query = sa.select(t.day, t.category, sa.func.sum(t.downloads)).where(
            t.project == project, t.dimension == dimension
        )
        if not mirrors:
            query = query.where(t.mirror.is_(False))
        if since is not None:
            query = query.where(t.day >= since)
        query = query.group_by(t.category, t.day).order_by(t.category, t.day)
        return [(day, category, int(n)) for day, category, n in self.session.execute(query)]

    def overall(self, project, *, since=None) -> list:
        t = DailyDownloads
        query = sa.select(
            t.day,
            sa.func.sum(t.downloads),
            sa.func.coalesce(sa.func.sum(t.downloads).filter(t.mirror.is_(False)), 0),
        ).where(t.project == project, t.dimension == "overall")
        if since is not None:
            query = query.where(t.day >= since)
        query = query.group_by(t.day).order_by(t.day)
        return [(day, int(w), int(wo)) for day, w, wo in self.session.execute(query)]


def stats_service_factory(context, request) -> DatabaseStatsService:
    return DatabaseStatsService(request.db)
