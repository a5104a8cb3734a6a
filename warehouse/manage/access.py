"""Who may do what to a project: shared by the manage pages and the JSON API."""

from __future__ import annotations

from packaging.utils import canonicalize_version

from warehouse.packaging.interfaces import IProjectService
from warehouse.packaging.models import Project, Release, Role, RoleName

# What each action needs. Maintainers publish and yank; only Owners can take things away
# for good or change who is responsible for the project.
OWNER_ONLY = frozenset({RoleName.owner.value})
OWNER_OR_MAINTAINER = frozenset({RoleName.owner.value, RoleName.maintainer.value})


def find_project(request, name: str) -> Project | None:
    return request.find_service(IProjectService).find(name)


def find_release(db, project: Project, version: str) -> Release | None:
    # Exact version string first, then the canonical form ("1.0" finds "1.0.0").
    for release in project.releases:
        if release.version == version:
            return release
    try:
        canonical = canonicalize_version(version)
    except Exception:  # noqa: BLE001 - an unparsable version simply matches nothing
        return None
    return next((r for r in project.releases if r.canonical_version == canonical), None)


def role_of(request, project: Project, user) -> str | None:
    return None if user is None else request.find_service(IProjectService).role_of(user, project)


def owners_first(project: Project) -> list[Role]:
    """The project's roles as both the pages and the API list them: Owners, then by name."""
    return sorted(
        project.roles, key=lambda role: (role.role_name != RoleName.owner, role.user.username)
    )


def management_blockers(request, user) -> list[str]:
    """What the user must do before managing projects, per the site's settings."""
    settings = request.registry.settings["warehouse"]
    blockers = []
    if getattr(settings, "require_verified_email", False) and not user.has_verified_email:
        blockers.append("verify an email address")
    if getattr(settings, "require_2fa", False) and not user.has_two_factor:
        blockers.append("turn on two-factor authentication")
    return blockers
