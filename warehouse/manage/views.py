"""The project management pages, ``/manage/projects/`` and ``/manage/project/<name>/...``.

Every page needs a logged-in user with a role on the project (a project they have no role
on is a 404 here, as if the page did not exist). Maintainers may look at everything and
yank; taking things away for good and changing collaborators needs an Owner. Changes go
through :class:`~warehouse.packaging.management.ProjectManagement` (which journals them)
and are recorded as project security events with who, when and from where.
"""

from __future__ import annotations

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from warehouse.accounts import notifications
from warehouse.accounts.authentication import recently_authenticated
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.models import User
from warehouse.admin.flags import Flag, flag_refusal
from warehouse.events import EventSource, events_for, record_event
from warehouse.events.tags import ProjectTag
from warehouse.manage.access import (
    OWNER_ONLY,
    OWNER_OR_MAINTAINER,
    find_project,
    find_release,
    management_blockers,
    owners_first,
    role_of,
)
from warehouse.manage.models import RoleInvitation
from warehouse.packaging.management import LastOwnerError, ManagementError, ProjectManagement
from warehouse.packaging.models import (
    QUARANTINED_MESSAGE,
    JournalEntry,
    Project,
    Role,
    RoleName,
)

T = "warehouse.manage:templates/manage/"
HISTORY_LENGTH = 200

# Tags for invitations; the role tags themselves come from warehouse.events.tags.
ROLE_INVITED = "project:role:invite"
ROLE_INVITE_DECLINED = "project:role:invite:decline"
ROLE_INVITE_REVOKED = "project:role:invite:revoke"

EVENT_DESCRIPTIONS = {
    ProjectTag.CREATED: "Project created",
    ProjectTag.ROLE_ADDED: "Collaborator added",
    ProjectTag.ROLE_REMOVED: "Collaborator removed",
    ProjectTag.ROLE_CHANGED: "Role changed",
    ProjectTag.RELEASE_YANKED: "Release yanked",
    ProjectTag.RELEASE_UNYANKED: "Release unyanked",
    ProjectTag.RELEASE_REMOVED: "Release deleted",
    ProjectTag.FILE_REMOVED: "File deleted",
    ProjectTag.DELETED: "Project deleted",
    ROLE_INVITED: "Collaborator invited",
    ROLE_INVITE_DECLINED: "Invitation declined",
    ROLE_INVITE_REVOKED: "Invitation revoked",
}


# Helpers ------------------------------------------------------------------------------


def _back(request, route: str, message: str | None = None, queue: str = "success", **kw):
    if message:
        request.session.flash(message, queue=queue)
    return HTTPSeeOther(request.route_path(route, **kw))


def _project_context(request, allowed_roles=OWNER_OR_MAINTAINER):
    """(project, role) for the URL's project, or 404/403."""
    project = find_project(request, request.matchdict["name"])
    role = role_of(request, project, request.user) if project is not None else None
    if role is None:
        raise HTTPNotFound()
    if role not in allowed_roles:
        raise HTTPForbidden(f"This needs the Owner role on {project.name}.")
    if project.quarantined:
        raise HTTPForbidden(QUARANTINED_MESSAGE.format(name=project.name))
    return project, role


def _guard_post(request, project, back_route: str, *, reauth: bool = True, **kw):
    """A redirect that refuses the POST (with the reason flashed), or None to go ahead."""
    blockers = management_blockers(request, request.user)
    if blockers:
        return _back(
            request,
            back_route,
            f"Before managing projects, {' and '.join(blockers)} in your account settings.",
            "error",
            name=project.normalized_name,
            **kw,
        )
    # Destructive and collaborator changes need the password typed lately; a POST cannot
    # be replayed, so the person confirms their password, comes back, and submits again.
    if reauth and not recently_authenticated(request):
        request.session.flash("Confirm your password, then submit the form again.", "warning")
        target = request.route_path(back_route, name=project.normalized_name, **kw)
        return HTTPSeeOther(request.route_path("accounts.reauthenticate", _query={"next": target}))
    return None


def _event(request, project, tag, **additional):
    record_event(request, EventSource.project, project.id, tag, additional=additional)


def _page(request, project, role, **extra):
    page = {
        "project": project,
        "role": role,
        "is_owner": role == RoleName.owner,
        "blockers": management_blockers(request, request.user),
    }
    page.update(extra)
    return page


# /manage/projects/ ----------------------------------------------------------------------


@view_config(
    route_name="manage.projects",
    renderer=T + "projects.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def projects(request):
    user = request.user
    rows = request.db.execute(
        sa.select(Project, Role.role_name)
        .join(Role, Role.project_id == Project.id)
        .where(Role.user_id == user.id)
        .order_by(Project.normalized_name)
    ).all()
    invitations = list(
        request.db.scalars(
            sa.select(RoleInvitation)
            .where(RoleInvitation.user_id == user.id)
            .options(
                sa.orm.joinedload(RoleInvitation.project),
                sa.orm.joinedload(RoleInvitation.invited_by),
            )
            .order_by(RoleInvitation.created)
        )
    )
    return {
        "projects": rows,
        "quarantined_message": QUARANTINED_MESSAGE,
        "invitations": invitations,
        "blockers": management_blockers(request, user),
    }


@view_config(route_name="manage.invitation", request_method="POST", permission="manage:user")
def answer_invitation(request):
    invitation = request.db.scalar(
        sa.select(RoleInvitation).where(
            RoleInvitation.id == _int(request.POST.get("invitation_id")),
            RoleInvitation.user_id == request.user.id,
        )
    )
    if invitation is None:
        return _back(request, "manage.projects", "That invitation no longer exists.", "error")
    project = invitation.project
    if request.POST.get("action") == "accept":
        blockers = management_blockers(request, request.user)
        if blockers:
            return _back(
                request,
                "manage.projects",
                f"Before accepting, {' and '.join(blockers)} in your account settings.",
                "error",
            )
        request.db.delete(invitation)
        try:
            request.find_service(ProjectManagement).add_role(
                project, request.user, invitation.role_name, request.user
            )
        except ManagementError as exc:
            return _back(request, "manage.projects", str(exc), "error")
        _event(
            request,
            project,
            ProjectTag.ROLE_ADDED,
            username=request.user.username,
            role=invitation.role_name,
        )
        return _back(
            request, "manage.projects", f"You are now a {invitation.role_name} of {project.name}."
        )
    request.db.delete(invitation)
    _event(request, project, ROLE_INVITE_DECLINED, username=request.user.username)
    return _back(request, "manage.projects", f"You declined the invitation to {project.name}.")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


# /manage/project/<name>/ ----------------------------------------------------------------


@view_config(
    route_name="manage.project.settings",
    renderer=T + "settings.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def settings(request):
    project, role = _project_context(request)
    return _page(request, project, role, delete_error=None)


@view_config(
    route_name="manage.project.delete",
    renderer=T + "settings.html",
    request_method="POST",
    permission="manage:user",
)
def delete_project(request):
    project, role = _project_context(request, OWNER_ONLY)
    refused = _guard_post(request, project, "manage.project.settings")
    if refused:
        return refused
    if message := flag_refusal(request, Flag.DISALLOW_DELETION):
        raise HTTPForbidden(message)
    if canonicalize_name(request.POST.get("confirm_project_name", "")) != project.normalized_name:
        request.response.status = 400
        return _page(
            request,
            project,
            role,
            delete_error=f"Type the project's name, {project.name}, to delete it.",
        )
    name = project.name
    _event(request, project, ProjectTag.DELETED, name=name)
    request.find_service(ProjectManagement).delete_project(project, request.user)
    return _back(request, "manage.projects", f"Deleted the project {name}.")


# Collaborators --------------------------------------------------------------------------


def _collaboration_refusal(request, project, role, exc: ManagementError):
    # Leaving the project without an Owner conflicts with its state; anything else is bad input.
    request.response.status = 409 if isinstance(exc, LastOwnerError) else 400
    return _collaboration_page(request, project, role, error=str(exc))


def _posted_user(request) -> User | None:
    return request.find_service(IUserService).find_by_username(request.POST.get("username", ""))


NO_SUCH_COLLABORATOR = "There is no such collaborator."


def _collaboration_page(request, project, role, **extra):
    roles = owners_first(project)
    invitations = list(
        request.db.scalars(
            sa.select(RoleInvitation)
            .where(RoleInvitation.project_id == project.id)
            .order_by(RoleInvitation.created)
        )
    )
    extra.setdefault("error", None)
    extra.setdefault("username", "")
    return _page(
        request,
        project,
        role,
        roles=roles,
        invitations=invitations,
        role_names=[r.value for r in RoleName],
        **extra,
    )


@view_config(
    route_name="manage.project.collaboration",
    renderer=T + "collaboration.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def collaboration(request):
    project, role = _project_context(request)
    return _collaboration_page(request, project, role)


@view_config(
    route_name="manage.project.collaboration",
    renderer=T + "collaboration.html",
    request_method="POST",
    permission="manage:user",
)
def invite(request):
    project, role = _project_context(request, OWNER_ONLY)
    refused = _guard_post(request, project, "manage.project.collaboration")
    if refused:
        return refused
    username = request.POST.get("username", "").strip()
    role_name = request.POST.get("role_name", "")

    def fail(message):
        request.response.status = 400
        return _collaboration_page(request, project, role, error=message, username=username)

    if role_name not in {r.value for r in RoleName}:
        return fail("Choose a role: Owner or Maintainer.")
    invitee = request.find_service(IUserService).find_by_username(username) if username else None
    if invitee is None or not invitee.is_active:
        return fail(f"There is no user named {username!r}." if username else "Type a username.")
    if role_of(request, project, invitee) is not None:
        return fail(f"{invitee.username} is already a collaborator on {project.name}.")
    pending = request.db.scalar(
        sa.select(RoleInvitation).where(
            RoleInvitation.project_id == project.id, RoleInvitation.user_id == invitee.id
        )
    )
    if pending is not None:
        return fail(f"{invitee.username} has already been invited.")
    request.db.add(
        RoleInvitation(project=project, user=invitee, role_name=role_name, invited_by=request.user)
    )
    _event(request, project, ROLE_INVITED, username=invitee.username, role=role_name)
    notifications.send_role_invitation(request, invitee, project.name, role_name)
    return _back(
        request,
        "manage.project.collaboration",
        f"Invited {invitee.username} as {role_name}. They can accept on their projects page.",
        name=project.normalized_name,
    )


@view_config(
    route_name="manage.project.invitation.revoke", request_method="POST", permission="manage:user"
)
def revoke_invitation(request):
    project, _ = _project_context(request, OWNER_ONLY)
    refused = _guard_post(request, project, "manage.project.collaboration")
    if refused:
        return refused
    invitation = request.db.scalar(
        sa.select(RoleInvitation).where(
            RoleInvitation.id == _int(request.POST.get("invitation_id")),
            RoleInvitation.project_id == project.id,
        )
    )
    if invitation is not None:
        username = invitation.user.username
        request.db.delete(invitation)
        _event(request, project, ROLE_INVITE_REVOKED, username=username)
    return _back(
        request, "manage.project.collaboration", "Invitation revoked.", name=project.normalized_name
    )


@view_config(
    route_name="manage.project.collaboration.role",
    renderer=T + "collaboration.html",
    request_method="POST",
    permission="manage:user",
)
def change_role(request):
    project, role = _project_context(request, OWNER_ONLY)
    refused = _guard_post(request, project, "manage.project.collaboration")
    if refused:
        return refused
    role_name = request.POST.get("role_name", "")
    target = _posted_user(request)
    try:
        if target is None:
            raise ManagementError(NO_SUCH_COLLABORATOR)
        previous = request.find_service(ProjectManagement).change_role(
            project, target, role_name, request.user
        )
    except ManagementError as exc:
        return _collaboration_refusal(request, project, role, exc)
    _event(
        request,
        project,
        ProjectTag.ROLE_CHANGED,
        username=target.username,
        role=role_name,
        previous_role=previous,
    )
    return _back(
        request,
        "manage.project.collaboration",
        f"{target.username} is now {role_name} of {project.name}.",
        name=project.normalized_name,
    )


@view_config(
    route_name="manage.project.collaboration.remove",
    renderer=T + "collaboration.html",
    request_method="POST",
    permission="manage:user",
)
def remove_collaborator(request):
    project, role = _project_context(request)
    target = _posted_user(request)
    leaving = target is not None and target.id == request.user.id
    # Anyone may leave; only an Owner removes someone else.
    if not leaving and role != RoleName.owner:
        raise HTTPForbidden(f"This needs the Owner role on {project.name}.")
    refused = _guard_post(request, project, "manage.project.collaboration")
    if refused:
        return refused
    try:
        if target is None:
            raise ManagementError(NO_SUCH_COLLABORATOR)
        removed_role = request.find_service(ProjectManagement).remove_role(
            project, target, request.user
        )
    except ManagementError as exc:
        return _collaboration_refusal(request, project, role, exc)
    _event(request, project, ProjectTag.ROLE_REMOVED, username=target.username, role=removed_role)
    if leaving:
        return _back(request, "manage.projects", f"You left {project.name}.")
    return _back(
        request,
        "manage.project.collaboration",
        f"Removed {target.username} from {project.name}.",
        name=project.normalized_name,
    )


# Releases and files ---------------------------------------------------------------------


@view_config(
    route_name="manage.project.releases",
    renderer=T + "releases.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def releases(request):
    project, role = _project_context(request)
    return _page(request, project, role, releases=project.releases)


def _release_context(request, allowed_roles=OWNER_OR_MAINTAINER):
    project, role = _project_context(request, allowed_roles)
    release = find_release(request.db, project, request.matchdict["version"])
    if release is None:
        raise HTTPNotFound()
    return project, role, release


def _release_page(request, project, role, release, **extra):
    extra.setdefault("error", None)
    return _page(request, project, role, release=release, **extra)


@view_config(
    route_name="manage.project.release",
    renderer=T + "release.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def release_page(request):
    return _release_page(request, *_release_context(request))


def _release_kw(release):
    return {"version": release.version}


@view_config(
    route_name="manage.project.release.yank", request_method="POST", permission="manage:user"
)
def yank(request):
    project, _, release = _release_context(request)
    refused = _guard_post(
        request, project, "manage.project.release", reauth=False, **_release_kw(release)
    )
    if refused:
        return refused
    reason = request.POST.get("reason", "").strip()[:1000]
    request.find_service(ProjectManagement).yank_release(release, reason, request.user)
    _event(request, project, ProjectTag.RELEASE_YANKED, version=release.version, reason=reason)
    return _back(
        request,
        "manage.project.release",
        f"Yanked {project.name} {release.version}.",
        name=project.normalized_name,
        **_release_kw(release),
    )


@view_config(
    route_name="manage.project.release.unyank", request_method="POST", permission="manage:user"
)
def unyank(request):
    project, _, release = _release_context(request)
    refused = _guard_post(
        request, project, "manage.project.release", reauth=False, **_release_kw(release)
    )
    if refused:
        return refused
    request.find_service(ProjectManagement).unyank_release(release, request.user)
    _event(request, project, ProjectTag.RELEASE_UNYANKED, version=release.version)
    return _back(
        request,
        "manage.project.release",
        f"Unyanked {project.name} {release.version}.",
        name=project.normalized_name,
        **_release_kw(release),
    )


def _typed(request, field: str, expected: str) -> bool:
    """Deletions ask the user to type what goes; a mismatch refuses them."""
    return request.POST.get(field, "").strip() == expected


def _release_refusal(request, project, role, release, message: str):
    request.response.status = 400
    return _release_page(request, project, role, release, error=message)


@view_config(
    route_name="manage.project.release.delete",
    renderer=T + "release.html",
    request_method="POST",
    permission="manage:user",
)
def delete_release(request):
    project, role, release = _release_context(request, OWNER_ONLY)
    refused = _guard_post(request, project, "manage.project.release", **_release_kw(release))
    if refused:
        return refused
    if message := flag_refusal(request, Flag.DISALLOW_DELETION):
        raise HTTPForbidden(message)
    if not _typed(request, "confirm_version", release.version):
        return _release_refusal(
            request,
            project,
            role,
            release,
            f"Type the version, {release.version}, to delete the release.",
        )
    version = release.version
    request.find_service(ProjectManagement).delete_release(release, request.user)
    _event(request, project, ProjectTag.RELEASE_REMOVED, version=version)
    return _back(
        request,
        "manage.project.releases",
        f"Deleted {project.name} {version}.",
        name=project.normalized_name,
    )


@view_config(
    route_name="manage.project.release.delete_file",
    renderer=T + "release.html",
    request_method="POST",
    permission="manage:user",
)
def delete_file(request):
    project, role, release = _release_context(request, OWNER_ONLY)
    refused = _guard_post(request, project, "manage.project.release", **_release_kw(release))
    if refused:
        return refused
    if message := flag_refusal(request, Flag.DISALLOW_DELETION):
        raise HTTPForbidden(message)
    file = next((f for f in release.files if f.id == _int(request.POST.get("file_id"))), None)
    if file is None:
        raise HTTPNotFound()
    if not _typed(request, "confirm_filename", file.filename):
        return _release_refusal(
            request, project, role, release, f"Type the file's name, {file.filename}, to delete it."
        )
    filename = file.filename
    request.find_service(ProjectManagement).delete_file(file, request.user)
    _event(request, project, ProjectTag.FILE_REMOVED, version=release.version, filename=filename)
    return _back(
        request,
        "manage.project.release",
        f"Deleted {filename}.",
        name=project.normalized_name,
        **_release_kw(release),
    )


# History --------------------------------------------------------------------------------


@view_config(
    route_name="manage.project.history",
    renderer=T + "history.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def history(request):
    project, role = _project_context(request)
    journal = list(
        request.db.scalars(
            sa.select(JournalEntry)
            .where(JournalEntry.name == project.name)
            .order_by(JournalEntry.id.desc())
            .limit(HISTORY_LENGTH)
        )
    )
    events = events_for(request.db, EventSource.project, project.id, limit=HISTORY_LENGTH)
    return _page(
        request,
        project,
        role,
        journal=journal,
        events=events,
        describe_event=lambda tag: EVENT_DESCRIPTIONS.get(tag, tag),
    )


ROUTES = (
    ("manage.projects", "/manage/projects/"),
    ("manage.invitation", "/manage/projects/invitation/"),
    ("manage.project.settings", "/manage/project/{name}/"),
    ("manage.project.delete", "/manage/project/{name}/delete/"),
    ("manage.project.collaboration", "/manage/project/{name}/collaboration/"),
    ("manage.project.collaboration.remove", "/manage/project/{name}/collaboration/remove/"),
    ("manage.project.collaboration.role", "/manage/project/{name}/collaboration/role/"),
    ("manage.project.invitation.revoke", "/manage/project/{name}/collaboration/revoke/"),
    ("manage.project.releases", "/manage/project/{name}/releases/"),
    ("manage.project.release", "/manage/project/{name}/release/{version}/"),
    ("manage.project.release.yank", "/manage/project/{name}/release/{version}/yank/"),
    ("manage.project.release.unyank", "/manage/project/{name}/release/{version}/unyank/"),
    ("manage.project.release.delete", "/manage/project/{name}/release/{version}/delete/"),
    ("manage.project.release.delete_file", "/manage/project/{name}/release/{version}/delete-file/"),
    ("manage.project.history", "/manage/project/{name}/history/"),
)


def includeme(config) -> None:
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
    config.scan(__name__)
