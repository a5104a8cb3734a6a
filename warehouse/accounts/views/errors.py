"""What people see when a page needs a login, or a form comes back without its CSRF token."""

from __future__ import annotations

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import exception_view_config, forbidden_view_config

from warehouse.accounts.security import is_api_request


@forbidden_view_config()
def forbidden(context, request):
    # Programs get the plain 403 they can act on; people get the login page, and come back.
    if is_api_request(request) or request.user is not None:
        return context
    target = request.path_qs if request.method in ("GET", "HEAD") else "/manage/account/"
    return HTTPSeeOther(request.route_path("accounts.login", _query={"next": target}))


@exception_view_config(BadCSRFToken, renderer="warehouse.accounts:templates/csrf_failure.html")
@exception_view_config(BadCSRFOrigin, renderer="warehouse.accounts:templates/csrf_failure.html")
def csrf_failure(context, request):
    request.response.status = 400
    return {}
