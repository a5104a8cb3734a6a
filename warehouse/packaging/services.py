"""Projects: naming rules, creation, roles and release ordering."""

from __future__ import annotations

import re
import sys

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy.dialects.postgresql import insert
from zope.interface import implementer

from warehouse.accounts.models import User
from warehouse.packaging import journal
from warehouse.packaging.interfaces import IProjectService
from warehouse.packaging.journal import Action
from warehouse.packaging.models import (
    PROJECT_NAME_PATTERN,
    ProhibitedProjectName,
    Project,
    Release,
    Role,
    RoleName,
)

PROJECT_NAME_RE = re.compile(PROJECT_NAME_PATTERN, re.IGNORECASE)
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
        prohibited = self.db.scalar(
            sa.select(ProhibitedProjectName.id).where(ProhibitedProjectName.name == normalized)
        )
        if normalized in RESERVED_NAMES or prohibited is not None:
            raise ProjectNameError(
                f"The name {name!r} isn't allowed. See https://pypi.org/help/#project-name "
                "for more information."
            )
        similar = self.db.scalar(
            sa.select(Project.name)
            .where(_ultranormalized_sql(Project.name) == ultranormalize_name(name))
            .where(Project.normalized_name != normalized)
            .limit(1)
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
        created_id = self.db.scalar(
            insert(Project)
            .values(name=name, normalized_name=normalized, last_serial=0, total_size=0,
                    created=sa.func.now())
            .on_conflict_do_nothing(index_elements=[Project.normalized_name])
            .returning(Project.id)
        )
        if created_id is None:
            return None
        project = self.db.get(Project, created_id)
        self.db.add(Role(user=creator, project=project, role_name=RoleName.owner))
        journal.record(self.db, name, Action.CREATE_PROJECT, submitted_by=creator.username)
        journal.record(
            self.db,
            name,
            Action.ADD_ROLE.format(role=RoleName.owner, username=creator.username),
            submitted_by=creator.username,
        )
        self.db.flush()
        return project

    # Releases ------------------------------------------------------------------------

    def reorder_releases(self, project: Project) -> None:
        """Set every release's ``sort_order`` to its rank by ``packaging.version``."""
        releases = self.db.scalars(sa.select(Release).where(Release.project_id == project.id))

        def key(release: Release):
            try:
                return (1, Version(release.version))
            except InvalidVersion:  # legacy rows; keep them first, by text
                return (0, release.version)

        for position, release in enumerate(sorted(releases, key=key)):
            if release.sort_order != position:
                release.sort_order = position


def project_service_factory(context, request) -> DatabaseProjectService:
    return DatabaseProjectService(request.db)
