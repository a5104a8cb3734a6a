"""``POST /danger-api/projects/{name}/observations``: reports from programs.

Authenticated with an API token as ``Authorization: Bearer <token>`` (cookies are ignored,
which is why the view needs no CSRF token). Every refusal is JSON: ``{"error": sentence}``.
"""

from __future__ import annotations

import json

from pyramid.response import Response
from pyramid.view import view_config

from warehouse.admin import services
from warehouse.admin.mail import request_mailer
from warehouse.tokens.caveats import MANAGE
from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.services import InvalidToken

CONTENT_TYPE = "application/vnd.pypi.api-v0-danger+json"
MAX_BODY = 64 * 1024
THANKS = "Thank you: the index's administrators will look at your report."


class DangerAPIError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    response = Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        charset="utf-8",
    )
    response.headers.update({"Cache-Control": "no-store", **(headers or {})})
    return response


def _token_user(request):
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise DangerAPIError(
            401,
            "Authentication required: send an API token as 'Authorization: Bearer <token>'.",
            {"WWW-Authenticate": "Bearer"},
        )
    try:
        token = request.find_service(ITokenService).verify(value.strip())
    except InvalidToken as exc:
        raise DangerAPIError(401, exc.reason, {"WWW-Authenticate": "Bearer"}) from None
    if not token.restrictions.allows(MANAGE):
        raise DangerAPIError(403, "This API token may not send reports: its scope is upload only.")
    return token


def _body(request) -> dict:
    if request.content_type != CONTENT_TYPE:
        raise DangerAPIError(415, f"The request's Content-Type must be {CONTENT_TYPE}.")
    if (request.content_length or 0) > MAX_BODY:
        raise DangerAPIError(413, f"The request body must be at most {MAX_BODY} bytes.")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise DangerAPIError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise DangerAPIError(400, "The request body must be a JSON object.")
    unknown = set(body) - {"kind", "summary", "inspector_url"}
    if unknown:
        raise DangerAPIError(400, f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for field in ("kind", "summary"):
        if field not in body:
            raise DangerAPIError(400, f"The field {field!r} is required.")
    return body


@view_config(route_name="admin.api.observations", request_method="POST", require_csrf=False)
def create_observation(request):
    try:
        token = _token_user(request)
        user = token.user
        body = _body(request)
        services.check_report(body["kind"], body["summary"], body.get("inspector_url"))
        project = request.db.scalar(services.find_project_query(request.matchdict["name"]))
        if project is None:
            raise DangerAPIError(404, f"There is no project named {request.matchdict['name']!r}.")
        if not token.restrictions.covers(project.normalized_name):
            raise DangerAPIError(
                403, f"This API token is not scoped to the project {project.name!r}."
            )
        limiter = request.ratelimiter("report")
        if not limiter.hit(str(user.id)):
            retry = limiter.retry_after()
            raise DangerAPIError(
                429,
                f"Too many reports from your account; try again in {retry} seconds.",
                {"Retry-After": str(retry)},
            )
        services.report(
            request.db,
            project,
            user,
            body["kind"],
            body["summary"],
            body.get("inspector_url"),
            via="api",
            mail=request_mailer(request),
        )
    except services.ReportError as exc:
        request.tm.doom()
        return _json(400, {"error": str(exc), "field": exc.field})
    except DangerAPIError as exc:
        request.tm.doom()
        return _json(exc.status, {"error": exc.message}, exc.headers)
    return _json(202, {"project": project.name, "thanks": THANKS})


@view_config(route_name="admin.api.observations", request_method=("GET", "HEAD", "PUT", "DELETE"))
def wrong_method(request):
    return _json(405, {"error": "Use POST to send a report."}, {"Allow": "POST"})


def includeme(config) -> None:
    config.add_route("admin.api.observations", "/danger-api/projects/{name}/observations")
    config.scan(__name__)
