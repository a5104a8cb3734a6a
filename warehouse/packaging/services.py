"""Projects: naming rules, creation, roles and release ordering."""

from __future__ import annotations

import bisect
import re
import sys

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import insert
from zope.interface import implementer

from warehouse.accounts.models import User
from warehouse.packaging import journal
from warehouse.packaging.interfaces import IProjectService
from warehouse.packaging.journal import Action
from warehouse.packaging.models import (
    PROJECT_NAME_RE,
    ProhibitedProjectName,
    Project,
    Release,
    Role,
    RoleName,
)

MAX_PROJECT_NAME_LENGTH = 100

# Names people would type expecting something else: the standard library's modules, and
# words that mean an index, not a project.
RESERVED_NAMES = frozenset(canonicalize_name(n) for n in sys.stdlib_module_names) | {
    "pypi",
    "warehouse",
    "simple",
    "packages",
    "legacy",
}


class ProjectNameError(ValueError):
    """A name that cannot be registered; the message is one sentence for the uploader."""


def ultranormalize_name(name: str) -> str:
    """A key under which confusable names collide: separators dropped, o/0 and l/i/1 merged.

    The same expression is indexed in SQL (see :func:`_ultranormalized_sql`).
    """
    return re.sub(r"[._-]", "", name.lower().translate(str.maketrans("oli", "011")))


def _ultranormalized_sql(column):
    return sa.func.regexp_replace(
        sa.func.translate(sa.func.lower(column), "oli", "011"), "[._-]", "", "g"
    )


@implementer(IProjectService)
class DatabaseProjectService:
    def __init__(self, session):
        self.db = session

    # Lookups -------------------------------------------------------------------------

    def find(self, name: str) -> Project | None:
        return self.db.scalar(
            sa.select(Project).where(Project.normalized_name == canonicalize_name(name))
        )

    def role_of(self, user: User, project: Project) -> str | None:
        return self.db.scalar(
            sa.select(Role.role_name).where(Role.user_id == user.id, Role.project_id == project.id)
        )

    def find_for_upload(
        self, name: str, user: User, canonical_version: str | None = None
    ) -> tuple[Project | None, str | None, Release | None]:
        """The project, ``user``'s role on it and (given its version) the release, in one query."""
        release_matches = (
            sa.and_(
                Release.project_id == Project.id, Release.canonical_version == canonical_version
            )
            if canonical_version is not None
            else sa.false()
        )
        row = self.db.execute(
            sa.select(Project, Role.role_name, Release)
            .outerjoin(Role, sa.and_(Role.project_id == Project.id, Role.user_id == user.id))
            .outerjoin(Release, release_matches)
            .where(Project.normalized_name == canonicalize_name(name))
        ).first()
        return (row[0], row[1], row[2]) if row is not None else (None, None, None)

    # Creating ------------------------------------------------------------------------

    def check_new_name(self, name: str) -> None:
        """Raise :class:`ProjectNameError` unless ``name`` may be registered as a new project."""
        if not PROJECT_NAME_RE.match(name):
            raise ProjectNameError(
                f"The name {name!r} is invalid: it must start and end with a letter or digit "
                "and can only contain ., _, -, letters and digits."
            )
        if len(name) > MAX_PROJECT_NAME_LENGTH:
            raise ProjectNameError(
                f"The name {name!r} is too long: at most {MAX_PROJECT_NAME_LENGTH} characters."
            )
        normalized = canonicalize_name(name)
        # Both questions in one round trip: is the name prohibited, and which existing
        # project's name would look the same.
        prohibited, similar = self.db.execute(
            sa.select(
                sa.select(ProhibitedProjectName.comment)
                .where(ProhibitedProjectName.name == normalized)
                .scalar_subquery(),
                sa.select(Project.name)
                .where(_ultranormalized_sql(Project.name) == ultranormalize_name(name))
                .where(Project.normalized_name != normalized)
                .limit(1)
                .scalar_subquery(),
            )
        ).one()
        if prohibited is not None:
            raise ProjectNameError(
                f"The name {name!r} isn't allowed: it is on the index's list of prohibited "
                f"project names ({prohibited or 'no reason given'}). "
                "See https://pypi.org/help/#project-name for more information."
            )
        if normalized in RESERVED_NAMES:
            raise ProjectNameError(
                f"The name {name!r} isn't allowed. See https://pypi.org/help/#project-name "
                "for more information."
            )
        if similar is not None:
            raise ProjectNameError(
                f"The name {name!r} is too similar to an existing project. "
                "See https://pypi.org/help/#project-name for more information."
            )

    def create(self, name: str, creator: User) -> Project:
        """Create the project with ``creator`` as its Owner, or return None if it exists.

        Two uploads may create the same project at once: the insert waits for the other
        transaction and then does nothing, and the caller treats the project as existing.
        """
        normalized = canonicalize_name(name)
        # RETURNING the entity puts the new row in the session without a second query.
        project = self.db.scalar(
            insert(Project)
            .values(
                name=name,
                normalized_name=normalized,
                last_serial=0,
                total_size=0,
                created=sa.func.now(),
            )
            .on_conflict_do_nothing(index_elements=[Project.normalized_name])
            .returning(Project)
        )
        if project is None:
            return None
        self.db.add(Role(user=creator, project=project, role_name=RoleName.owner))
        journal.record(self.db, name, Action.CREATE_PROJECT, submitted_by=creator.username)
        journal.record(
            self.db,
            name,
            Action.ADD_ROLE,
            submitted_by=creator.username,
            role=RoleName.owner,
            username=creator.username,
        )
        self.db.flush()
        return project

    # Releases ------------------------------------------------------------------------

    def reorder_releases(self, project: Project, added: Release | None = None) -> None:
        """Set every release's ``sort_order`` to its rank by ``packaging.version`` (0 the oldest).

        With ``added``, a release just inserted while the others are ranked already, it is
        slotted in by binary search instead: a few versions parsed rather than every one
        (botocore's 5,000 took 70-140 ms of each upload's CPU).
        """
        if added is not None and self._slot_in(project, added):
            return
        rows = self.db.execute(
            sa.select(Release.id, Release.version, Release.sort_order).where(
                Release.project_id == project.id
            )
        ).all()
        ranked = sorted(rows, key=lambda row: release_sort_key(row.version))
        moved = {row.id: rank for rank, row in enumerate(ranked) if row.sort_order != rank}
        if not moved:
            return
        # One executemany (psycopg pipelines it); then the loaded objects are told.
        self.db.execute(
            sa.update(Release.__table__)
            .where(Release.__table__.c.id == sa.bindparam("release_id"))
            .values(sort_order=sa.bindparam("rank")),
            [{"release_id": release_id, "rank": rank} for release_id, rank in moved.items()],
        )
        self._tell_loaded(lambda loaded: moved.get(loaded.get("id")))

    def _slot_in(self, project: Project, added: Release) -> bool:
        """Rank ``added`` among the others; False if they are not ranked 0..n-1 already."""
        others = self.db.execute(
            sa.select(Release.version, Release.sort_order)
            .where(Release.project_id == project.id, Release.id != added.id)
            .order_by(Release.sort_order)
        ).all()
        if any(row.sort_order != rank for rank, row in enumerate(others)):
            return False
        position = bisect.bisect_right(
            others, release_sort_key(added.version), key=lambda row: release_sort_key(row.version)
        )
        table = Release.__table__
        if position < len(others):  # not the newest: the newer ones move up by one
            self.db.execute(
                sa.update(table)
                .where(
                    table.c.project_id == project.id,
                    table.c.id != added.id,
                    table.c.sort_order >= position,
                )
                .values(sort_order=table.c.sort_order + 1)
            )
        self.db.execute(sa.update(table).where(table.c.id == added.id).values(sort_order=position))

        def new_rank(loaded: dict) -> int | None:
            if loaded.get("id") == added.id:
                return position
            if loaded.get("project_id") == project.id and loaded["sort_order"] >= position:
                return loaded["sort_order"] + 1
            return None

        self._tell_loaded(new_rank)
        return True

    def _tell_loaded(self, new_rank) -> None:
        """Give loaded releases their new ``sort_order`` (the database has it already).

        ``new_rank`` reads a release's loaded attributes (never loading one)."""
        for obj in list(self.db.identity_map.values()):
            if isinstance(obj, Release) and "sort_order" in obj.__dict__:
                rank = new_rank(obj.__dict__)
                if rank is not None:
                    orm.attributes.set_committed_value(obj, "sort_order", rank)


def release_sort_key(version: str):
    try:
        return (1, Version(version))
    except InvalidVersion:  # legacy rows; keep them first, by text
        return (0, version)


def project_service_factory(context, request) -> DatabaseProjectService:
    return DatabaseProjectService(request.db)
