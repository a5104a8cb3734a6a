"""``/api/tokens``: list, create and revoke API tokens with an API token.

Authenticated like the rest of the management API (HTTP Basic, ``__token__``, a token with
the ``manage`` scope; no cookies, so no CSRF). A token made here can do no more than the one
that made it: its scopes, projects and expiry must lie within the caller's.
"""

from __future__ import annotations

import datetime

from packaging.utils import canonicalize_name
from pyramid.view import view_config

from warehouse.db import utcnow
from warehouse.events import EventSource, record_event
from warehouse.events.tags import AccountTag
from warehouse.manage.api import APIError, api_error, json_response, token_identity
from warehouse.packaging.interfaces import IProjectService
from warehouse.tokens.caveats import MANAGE, SCOPES, Restrictions
from warehouse.tokens.interfaces import ITokenService

MAX_DESCRIPTION_LENGTH = 100


def _caller(request):
    identity = token_identity(request)
    if identity.token is None:
        raise APIError(
            401, "Authentication required: HTTP Basic with username __token__ and an API token."
        )
    if not identity.may(MANAGE):
        raise APIError(403, "This API token may not manage tokens: its scope is upload only.")
    return identity


def describe(token) -> dict:
    return {
        "id": str(token.id),
        "description": token.description,
        **token.row_restrictions.describe(),
        "created": token.created.isoformat(),
        "last_used": token.last_used.isoformat() if token.last_used else None,
    }


@view_config(route_name="tokens.api", request_method="GET", require_csrf=False)
def list_tokens(request):
    identity = _caller(request)
    tokens = request.find_service(ITokenService).list_for(identity.user)
    return json_response(200, [describe(token) for token in tokens])


def _requested(request, caller: Restrictions) -> tuple[Restrictions, str]:
    try:
        body = request.json_body
    except ValueError:
        raise APIError(400, "The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.")
    unknown = set(body) - {"description", "scopes", "projects", "expires_in_days"}
    if unknown:
        raise APIError(400, f"Unknown field(s): {', '.join(sorted(unknown))}.")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        raise APIError(400, f"The description is text of at most {MAX_DESCRIPTION_LENGTH}.")
    scopes = body.get("scopes", list(SCOPES))
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(SCOPES):
        raise APIError(400, f"The scopes are a list of {' and '.join(SCOPES)}.")
    projects = body.get("projects")
    if projects is not None and (
        not isinstance(projects, list)
        or not projects
        or not all(isinstance(p, str) for p in projects)
    ):
        raise APIError(400, "The projects are a list of project names.")
    days = body.get("expires_in_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 1):
        raise APIError(400, "expires_in_days is a whole number of days, at least 1.")
    wanted = Restrictions(
        scopes=frozenset(scopes),
        projects=frozenset(canonicalize_name(p) for p in projects) if projects else None,
        expires=utcnow() + datetime.timedelta(days=days) if days else None,
    )
    if not wanted.within(caller):
        raise APIError(
            403,
            "A token can only make tokens within its own limits: "
            f"at most scopes {sorted(caller.scopes or SCOPES)}, "
            f"projects {sorted(caller.projects) if caller.projects is not None else 'any'}, "
            f"expiry {caller.expires.isoformat() if caller.expires else 'none'}.",
        )
    return wanted, description


@view_config(route_name="tokens.api", request_method="POST", require_csrf=False)
def create_token(request):
    identity = _caller(request)
    wanted, description = _requested(request, identity.token.restrictions)
    user = identity.user
    projects = request.find_service(IProjectService)
    for name in sorted(wanted.projects or ()):
        project = projects.find(name)
        if project is None or projects.role_of(user, project) is None:
            raise APIError(403, f"You have no role on a project named {name!r}.")
    token, secret = request.find_service(ITokenService).create(
        user,
        projects=sorted(wanted.projects) if wanted.projects else None,
        expires=wanted.expires,
        description=description,
        scopes=sorted(wanted.scopes),
    )
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.API_TOKEN_ADDED,
        additional={"token_id": str(token.id), "description": description, "via": "api"},
    )
    return json_response(201, {**describe(token), "token": secret})


@view_config(route_name="tokens.api.token", request_method="DELETE", require_csrf=False)
def revoke_token(request):
    identity = _caller(request)
    service = request.find_service(ITokenService)
    token = service.find_for(identity.user, request.matchdict["token_id"])
    if token is None:
        raise APIError(404, "You have no token with that id.")
    record_event(
        request,
        EventSource.user,
        identity.user.id,
        AccountTag.API_TOKEN_REMOVED,
        additional={"token_id": str(token.id), "description": token.description, "via": "api"},
    )
    service.revoke(token)
    return json_response(200, {"id": request.matchdict["token_id"], "revoked": True})


def includeme(config) -> None:
    config.add_route("tokens.api", "/api/tokens")
    config.add_route("tokens.api.token", "/api/tokens/{token_id}")
    # The management API's errors: the same JSON body and status for the same mistakes.
    for route in ("tokens.api", "tokens.api.token"):
        config.add_view(api_error, context=APIError, route_name=route, renderer=None)
    config.scan(__name__)
