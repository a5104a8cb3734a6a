"""The JSON management API: yank, unyank and delete releases, list collaborators.

For scripts, so it authenticates like uploads: HTTP Basic with ``__token__`` and an API
token (``/api/`` is an API path, where session cookies are never honoured, which is why
these views need no CSRF token). The token's user needs a role on the project and the
token's scope must cover it. Documented in docs/management-api.md.
"""

from __future__ import annotations

from pyramid.response import Response
from pyramid.view import view_config

from warehouse.accounts.security import AuthenticationFailed
from warehouse.admin.flags import Flag, flag_refusal
from warehouse.events import EventSource, record_event
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
from warehouse.packaging.management import ProjectManagement
from warehouse.packaging.models import QUARANTINED_MESSAGE
from warehouse.tokens.caveats import MANAGE

MAX_REASON_LENGTH = 1000


class APIError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(status: int, body) -> Response:
    response = Response(json=body, status=status)
    # Answers depend on who asks: never from a shared cache.
    response.cache_control = "private, no-store"
    return response


@view_config(context=APIError, route_name="manage.api.yank", renderer=None)
@view_config(context=APIError, route_name="manage.api.unyank", renderer=None)
@view_config(context=APIError, route_name="manage.api.release", renderer=None)
@view_config(context=APIError, route_name="manage.api.collaborators", renderer=None)
def api_error(exc, request):
    # pyramid_tm aborts the transaction of a request that raised, so nothing is written.
    response = json_response(exc.status, {"error": exc.message})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Warehouse"'
    return response


def token_identity(request):
    """The caller's identity from its API token; 401 (APIError) without a valid one."""
    try:
        identity = request.identity
    except AuthenticationFailed as exc:
        raise APIError(401, f"Invalid API token: {exc.reason}") from None
    if identity is None:
        raise APIError(
            401, "Authentication required: HTTP Basic with username __token__ and an API token."
        )
    return identity


def _project(request, allowed_roles: frozenset[str]):
    """The project named in the URL, once the caller is known to be allowed to act on it."""
    identity = token_identity(request)
    if not identity.may(MANAGE):
        raise APIError(403, "This API token may not manage projects: its scope is upload only.")
    name = request.matchdict["name"]
    project = find_project(request, name)
    # Project names are public, so the errors can say exactly what is wrong.
    if project is None:
        raise APIError(404, f"No project named {name!r}.")
    if project.quarantined:
        raise APIError(403, QUARANTINED_MESSAGE.format(name=project.name))
    if not identity.may_act_on(project.normalized_name):
        raise APIError(403, f"This API token is not scoped to the project {project.name!r}.")
    role = role_of(request, project, identity.user)
    if role not in allowed_roles:
        needed = " or ".join(sorted(allowed_roles, reverse=True))
        have = f"your role is {role}" if role else "you have no role on it"
        raise APIError(403, f"This needs the {needed} role on {project.name!r}; {have}.")
    blockers = management_blockers(request, identity.user)
    if blockers:
        raise APIError(
            403, f"Before managing projects, {' and '.join(blockers)} on your account page."
        )
    return identity.user, project


def _release(request, project):
    version = request.matchdict["version"]
    release = find_release(request.db, project, version)
    if release is None:
        raise APIError(404, f"{project.name!r} has no release {version!r}.")
    return release


def _reason(request) -> str:
    if not request.body:
        return ""
    try:
        body = request.json_body
    except ValueError:
        raise APIError(400, 'The request body must be JSON, e.g. {"reason": "..."}.') from None
    if not isinstance(body, dict):
        raise APIError(400, 'The request body must be a JSON object, e.g. {"reason": "..."}.')
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise APIError(400, "The reason must be a string.")
    if len(reason) > MAX_REASON_LENGTH:
        raise APIError(400, f"The reason may be at most {MAX_REASON_LENGTH} characters.")
    return reason.strip()


def _release_body(project, release) -> dict:
    return {
        "project": project.name,
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
    }


@view_config(route_name="manage.api.yank", request_method="POST", require_csrf=False)
def yank(request):
    user, project = _project(request, OWNER_OR_MAINTAINER)
    release = _release(request, project)
    reason = _reason(request)
    if release.yanked:
        raise APIError(
            409,
            f"{project.name} {release.version} is already yanked; unyank it first to change "
            "the reason.",
        )
    request.find_service(ProjectManagement).yank_release(release, reason, user)
    record_event(
        request,
        EventSource.project,
        project.id,
        ProjectTag.RELEASE_YANKED,
        additional={"version": release.version, "reason": reason, "via": "api"},
    )
    return json_response(200, _release_body(project, release))


@view_config(route_name="manage.api.unyank", request_method="POST", require_csrf=False)
def unyank(request):
    user, project = _project(request, OWNER_OR_MAINTAINER)
    release = _release(request, project)
    if not release.yanked:
        raise APIError(409, f"{project.name} {release.version} is not yanked.")
    request.find_service(ProjectManagement).unyank_release(release, user)
    record_event(
        request,
        EventSource.project,
        project.id,
        ProjectTag.RELEASE_UNYANKED,
        additional={"version": release.version, "via": "api"},
    )
    return json_response(200, _release_body(project, release))


@view_config(route_name="manage.api.release", request_method="DELETE", require_csrf=False)
def delete_release(request):
    user, project = _project(request, OWNER_ONLY)
    if message := flag_refusal(request, Flag.DISALLOW_DELETION):
        raise APIError(403, message)
    release = _release(request, project)
    version = release.version
    request.find_service(ProjectManagement).delete_release(release, user)
    record_event(
        request,
        EventSource.project,
        project.id,
        ProjectTag.RELEASE_REMOVED,
        additional={"version": version, "via": "api"},
    )
    return json_response(200, {"project": project.name, "version": version, "deleted": True})


@view_config(route_name="manage.api.collaborators", request_method="GET", require_csrf=False)
def collaborators(request):
    _, project = _project(request, OWNER_OR_MAINTAINER)
    return json_response(
        200, [{"username": r.user.username, "role": r.role_name} for r in owners_first(project)]
    )


ROUTES = (
    ("manage.api.yank", "/api/projects/{name}/releases/{version}/yank"),
    ("manage.api.unyank", "/api/projects/{name}/releases/{version}/unyank"),
    ("manage.api.release", "/api/projects/{name}/releases/{version}"),
    ("manage.api.collaborators", "/api/projects/{name}/collaborators"),
)


def includeme(config) -> None:
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
    config.scan(__name__)
