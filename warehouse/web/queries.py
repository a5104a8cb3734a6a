"""What the pages read from the database, in one place, so that views stay thin.

Each function answers one page's question with a bounded number of queries (no per-row
lazy loading in templates).
"""

from __future__ import annotations

import dataclasses
import datetime

import sqlalchemy as sa
from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.packaging.models import File, Project, Release, Role

# How long the home page's totals may be stale: counting every file on every visit would be
# the most expensive thing the site does.
STATS_CACHE_SECONDS = 60
_STATS_KEY = "web:stats:v1"


@dataclasses.dataclass(frozen=True)
class SiteStats:
    projects: int
    releases: int
    files: int
    users: int


def site_stats(session: orm.Session, redis=None) -> SiteStats:
    """Totals for the home page, cached briefly in Redis when it is there."""
    if redis is not None:
        try:
            cached = redis.hgetall(_STATS_KEY)
        except Exception:  # noqa: BLE001 - a cache outage must not take the home page down
            cached = None
        if cached:
            return SiteStats(**{k.decode(): int(v) for k, v in cached.items()})
    stats = SiteStats(
        projects=session.scalar(sa.select(sa.func.count()).select_from(Project)),
        releases=session.scalar(sa.select(sa.func.count()).select_from(Release)),
        files=session.scalar(sa.select(sa.func.count()).select_from(File)),
        users=session.scalar(sa.select(sa.func.count()).select_from(User)),
    )
    if redis is not None:
        try:
            with redis.pipeline() as pipe:
                pipe.hset(_STATS_KEY, mapping=dataclasses.asdict(stats))
                pipe.expire(_STATS_KEY, STATS_CACHE_SECONDS)
                pipe.execute()
        except Exception:  # noqa: BLE001
            pass
    return stats


@dataclasses.dataclass(frozen=True)
class NewRelease:
    name: str
    version: str
    summary: str | None
    created: datetime.datetime


def newest_releases(session: orm.Session, limit: int = 10) -> list[NewRelease]:
    # Release ids grow with time, and the primary key index answers this without a sort.
    rows = session.execute(
        sa.select(Project.name, Release.version, Release.summary, Release.created)
        .join(Release.project)
        .where(Project.lifecycle_status.is_(None))
        .order_by(Release.id.desc())
        .limit(limit)
    ).all()
    return [NewRelease(*row) for row in rows]


def find_project(session: orm.Session, name: str) -> Project | None:
    """The project ``name`` refers to (any spelling); its releases are not loaded (see
    :func:`release_history`: a project may have thousands)."""
    return session.scalar(
        sa.select(Project).where(Project.normalized_name == canonicalize_name(name))
    )


@dataclasses.dataclass(frozen=True)
class ReleaseSummary:
    """What the release history shows of a release: a plain row, not the whole ``Release``."""

    id: int
    version: str
    canonical_version: str
    sort_order: int
    is_prerelease: bool
    yanked: bool
    yanked_reason: str | None
    created: datetime.datetime


# The history shows this many releases on the project page, newest first; a project with
# more (botocore has thousands) links to its whole history.
HISTORY_ON_PAGE = 100
_SUMMARY_COLUMNS = (
    Release.id,
    Release.version,
    Release.canonical_version,
    Release.sort_order,
    Release.is_prerelease,
    Release.yanked,
    Release.yanked_reason,
    Release.created,
)


def _served_releases(project: Project):
    """SELECT the summaries of ``project``'s releases installers may see: releases a scan
    holds are left out (warehouse.scanning.holds), as on the simple pages."""
    from warehouse.scanning.holds import served

    return sa.select(*_SUMMARY_COLUMNS).where(Release.project_id == project.id, served(Release.id))


def release_history(
    session: orm.Session, project: Project, limit: int | None = None
) -> tuple[list[ReleaseSummary], int]:
    """The newest ``limit`` releases (all when None), newest first, and how many there are."""
    total = sa.func.count().over().label("total")
    query = _served_releases(project).add_columns(total).order_by(Release.sort_order.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    return [ReleaseSummary(*row[:-1]) for row in rows], (rows[0].total if rows else 0)


def shown_release(session: orm.Session, project: Project) -> ReleaseSummary | None:
    """The release a visitor sees first: non-yanked before yanked, final before pre-release,
    then the newest (the same rule as the search index)."""
    row = session.execute(
        _served_releases(project)
        .order_by(Release.yanked, Release.is_prerelease, Release.sort_order.desc())
        .limit(1)
    ).first()
    return ReleaseSummary(*row) if row is not None else None


def find_release(session: orm.Session, project: Project, version: str) -> ReleaseSummary | None:
    """The release ``version`` names, exactly or in another spelling of the same version."""
    rows = session.execute(
        _served_releases(project).where(
            (Release.version == version)
            | (Release.canonical_version == canonicalize_version(version))
        )
    ).all()
    exact = [row for row in rows if row.version == version]
    return ReleaseSummary(*(exact or rows)[0]) if rows else None


def load_release_details(session: orm.Session, release_id: int) -> Release:
    """The release with everything its page shows loaded in a few queries."""
    return session.scalar(
        sa.select(Release)
        .where(Release.id == release_id)
        .options(
            orm.selectinload(Release.files),
            orm.selectinload(Release.urls),
            orm.selectinload(Release.classifiers),
            orm.selectinload(Release.dependencies),
        )
    )


def maintainers(session: orm.Session, project: Project) -> list[tuple[User, str]]:
    """(user, role name) of everyone with a role, owners first."""
    rows = session.execute(
        sa.select(User, Role.role_name)
        .join(Role, Role.user_id == User.id)
        .where(Role.project_id == project.id)
        .order_by(Role.role_name.desc(), User.username)
    ).all()
    return [(user, role) for user, role in rows]


def find_user(session: orm.Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


@dataclasses.dataclass(frozen=True)
class UserProject:
    name: str
    role: str
    version: str | None
    summary: str | None
    created: datetime.datetime | None


def projects_of(session: orm.Session, user: User) -> list[UserProject]:
    """The user's projects with their shown version's summary, most recently released first."""
    shown = (
        sa.select(Release.version, Release.summary, Release.created)
        .where(Release.project_id == Project.id)
        .order_by(Release.yanked, Release.is_prerelease, Release.sort_order.desc())
        .limit(1)
        .lateral()
    )
    rows = session.execute(
        sa.select(Project.name, Role.role_name, shown.c.version, shown.c.summary, shown.c.created)
        .join(Role, Role.project_id == Project.id)
        .outerjoin(shown, sa.true())
        .where(Role.user_id == user.id, Project.lifecycle_status.is_(None))
        .order_by(shown.c.created.desc().nulls_last(), Project.normalized_name)
    ).all()
    return [UserProject(*row) for row in rows]
