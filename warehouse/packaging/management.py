"""Changing what is already published: deleting, yanking, roles and renames.

Every operation writes its journal entry in the caller's transaction, so the change and the
serial that announces it commit (or vanish) together. Permission checks are the caller's job:
these methods assume the acting user may do what is asked.

Blobs are the one thing a rollback cannot restore, so the entries of removals carry the
removed files (:class:`~warehouse.packaging.journal.FileRef`) and the blobs are deleted by a
reaction to the commit (:mod:`warehouse.effects`): if the transaction aborts, every row still
points at its blob and nothing is lost; if it commits, nothing points at the blob any more.
"""

from __future__ import annotations

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.packaging import journal
from warehouse.packaging.interfaces import IProjectService
from warehouse.packaging.journal import Action, FileRef
from warehouse.packaging.models import File, Project, Release, Role, RoleName
from warehouse.packaging.services import (
    MAX_PROJECT_NAME_LENGTH,
    PROJECT_NAME_RE,
    ProjectNameError,
)


class ManagementError(ValueError):
    """A change that cannot be made; the message is one sentence for the user."""


class LastOwnerError(ManagementError):
    pass


class ProjectManagement:
    def __init__(self, session: orm.Session, projects: IProjectService):
        self.db = session
        self.projects = projects

    # Files, releases, projects -------------------------------------------------------

    def delete_file(self, file: File, by_user: User | None) -> None:
        """Remove one file; its name stays in the filename registry, so it is never reused."""
        release = file.release
        project = release.project
        removed = FileRef.of(file)
        release.files.remove(file)  # delete-orphan: the row goes at flush
        self._shrink(project, file.size)
        self._record(
            project.name,
            Action.REMOVE_FILE,
            by_user,
            version=release.version,
            files=(removed,),
            filename=file.filename,
        )
        self.db.flush()

    def delete_release(self, release: Release, by_user: User | None) -> None:
        project = release.project
        files = list(release.files)
        self.db.delete(release)  # its files, dependencies, URLs go with it (cascade)
        self._shrink(project, sum(file.size for file in files))
        self._record(
            project.name,
            Action.REMOVE_RELEASE,
            by_user,
            version=release.version,
            files=tuple(FileRef.of(file) for file in files),
        )
        self.db.flush()
        self.db.expire(project, ["releases"])
        # Keep sort_order dense (0..n-1) for whoever ranks releases by it.
        self.projects.reorder_releases(project)
        self.db.flush()

    def delete_project(self, project: Project, by_user: User | None) -> None:
        """Remove the project with its releases, files and roles (the database cascades)."""
        removed = FileRef.all_of_project(self.db, project.id)
        self._record(project.name, Action.REMOVE_PROJECT, by_user, files=removed)
        self.db.delete(project)
        self.db.flush()

    # Yanking -------------------------------------------------------------------------

    def yank_release(self, release: Release, reason: str, by_user: User | None) -> None:
        """Yank (PEP 592); yanking again with another reason updates the reason."""
        reason = reason or ""
        if release.yanked and release.yanked_reason == reason:
            return  # nothing changes, so nothing to announce
        release.yanked = True
        release.yanked_reason = reason
        self._record(release.project.name, Action.YANK_RELEASE, by_user, version=release.version)
        self.db.flush()

    def unyank_release(self, release: Release, by_user: User | None) -> None:
        if not release.yanked:
            return
        release.yanked = False
        release.yanked_reason = ""
        self._record(release.project.name, Action.UNYANK_RELEASE, by_user, version=release.version)
        self.db.flush()

    # Roles ---------------------------------------------------------------------------

    def add_role(self, project: Project, user: User, role_name: str, by_user: User | None) -> Role:
        role_name = self._valid_role_name(role_name)
        self._lock(project)
        existing = self._role(project, user)
        if existing is not None:
            raise ManagementError(
                f"{user.username} already has the {existing.role_name} role on {project.name}."
            )
        role = Role(user=user, project=project, role_name=role_name)
        self.db.add(role)
        self._record(project.name, Action.ADD_ROLE, by_user, role=role_name, username=user.username)
        self.db.flush()
        return role

    def remove_role(self, project: Project, user: User, by_user: User | None) -> str:
        """Remove the user's role and return its name; a project always keeps an Owner."""
        role = self._held_role(project, user)
        self._keep_an_owner(project, user, role, "removing this one")
        self.db.delete(role)
        self._record(
            project.name, Action.REMOVE_ROLE, by_user, role=role.role_name, username=user.username
        )
        self.db.flush()
        return role.role_name

    def change_role(
        self, project: Project, user: User, role_name: str, by_user: User | None
    ) -> str:
        """Give a collaborator another role and return the one they had.

        The last Owner cannot step down.
        """
        role_name = self._valid_role_name(role_name)
        role = self._held_role(project, user)
        previous = role.role_name
        if previous == role_name:
            raise ManagementError(f"{user.username} already has the {role_name} role.")
        self._keep_an_owner(project, user, role, "changing this one's role")
        # Mirrors know roles from the journal: the change reads as a removal and an addition.
        self._record(
            project.name, Action.REMOVE_ROLE, by_user, role=previous, username=user.username
        )
        role.role_name = role_name
        self._record(project.name, Action.ADD_ROLE, by_user, role=role_name, username=user.username)
        self.db.flush()
        return previous

    # Renaming ------------------------------------------------------------------------

    def rename_project(self, project: Project, new_name: str, by_user: User | None) -> None:
        """Rename; raises ``ProjectNameError`` for a name a new project could not take."""
        old_name = project.name
        if new_name == old_name:
            raise ManagementError(f"The project is already named {old_name!r}.")
        self._check_name_shape(new_name)
        new_normalized = canonicalize_name(new_name)
        moves = new_normalized != project.normalized_name
        if moves and self.projects.find(new_name) is not None:
            raise ProjectNameError(f"The name {new_name!r} is already used by another project.")
        self._apply_new_name(project, new_name, new_normalized)
        if moves:
            self._record(old_name, Action.RENAME_PROJECT_TO, by_user, new=new_name)
        self._record(new_name, Action.RENAME_PROJECT, by_user, old=old_name)

    def _check_name_shape(self, name: str) -> None:
        # The CHECK constraint would reject a malformed name at flush with an unhelpful
        # IntegrityError; let the project service say what is wrong instead.
        if not PROJECT_NAME_RE.match(name) or len(name) > MAX_PROJECT_NAME_LENGTH:
            self.projects.check_new_name(name)

    def _apply_new_name(self, project: Project, new_name: str, new_normalized: str) -> None:
        # The name is checked *after* it is written, inside a savepoint: then the "too
        # similar to an existing project" rule no longer sees the project itself under its
        # old name, and a concurrent registration of the same name fails on the unique index.
        savepoint = self.db.begin_nested()
        try:
            project.name = new_name
            project.normalized_name = new_normalized
            self.db.flush()
            self.projects.check_new_name(new_name)
        except sa.exc.IntegrityError:
            savepoint.rollback()
            raise ProjectNameError(
                f"The name {new_name!r} is already used by another project."
            ) from None
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()

    # Helpers -------------------------------------------------------------------------

    def _record(
        self, name: str, action: Action, by_user: User | None, *, version=None, files=(), **details
    ) -> None:
        journal.record(
            self.db,
            name,
            action,
            version=version,
            submitted_by=by_user.username if by_user is not None else None,
            files=files,
            **details,
        )

    def _shrink(self, project: Project, size: int) -> None:
        # In SQL, not Python: a concurrent upload may have changed the total meanwhile.
        project.total_size = sa.func.greatest(Project.total_size - size, 0)

    def _lock(self, project: Project) -> None:
        # Role changes on one project take turns, so two removals cannot each see the other
        # Owner and together leave the project with none.
        self.db.execute(sa.select(Project.id).where(Project.id == project.id).with_for_update())

    def _role(self, project: Project, user: User) -> Role | None:
        return self.db.scalar(
            sa.select(Role).where(Role.project_id == project.id, Role.user_id == user.id)
        )

    def _held_role(self, project: Project, user: User) -> Role:
        """``user``'s role on ``project``, with the project's roles locked (see _lock)."""
        self._lock(project)
        role = self._role(project, user)
        if role is None:
            raise ManagementError(f"{user.username} has no role on {project.name}.")
        return role

    def _keep_an_owner(self, project: Project, user: User, role: Role, doing: str) -> None:
        if role.role_name == RoleName.owner and self._owner_count(project) <= 1:
            raise LastOwnerError(
                f"{user.username} is the last Owner of {project.name}: add another Owner "
                f"before {doing}."
            )

    def _owner_count(self, project: Project) -> int:
        return self.db.scalar(
            sa.select(sa.func.count())
            .select_from(Role)
            .where(Role.project_id == project.id, Role.role_name == RoleName.owner)
        )

    @staticmethod
    def _valid_role_name(role_name: str) -> str:
        try:
            return RoleName(role_name).value
        except ValueError:
            choices = " or ".join(r.value for r in RoleName)
            raise ManagementError(f"{role_name!r} is not a role: use {choices}.") from None


def project_management_factory(context, request) -> ProjectManagement:
    return ProjectManagement(request.db, request.find_service(IProjectService))
