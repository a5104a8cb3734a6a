"""Who may use the admin area: a logged-in admin with a second factor, nobody else.

Every admin response is private to that admin: ``Cache-Control: private, no-store`` on all of
them (the 403s too), and the CDN passes ``/admin/`` straight through (config/varnish).
"""

from __future__ import annotations

import functools

from pyramid.renderers import render_to_response

from warehouse.admin.services import Actor
from warehouse.events import client_ip

NO_STORE = "private, no-store"
FORBIDDEN_TEMPLATE = "warehouse.admin:templates/admin/forbidden.html"

NOT_LOGGED_IN = "The admin area is for the index's administrators: log in with an admin account."
NOT_ADMIN = "The admin area is for the index's administrators, and your account is not one."
NO_TWO_FACTOR = (
    "Administrators must turn on two-factor authentication before using the admin area: "
    "add an authenticator app or a security key in your account settings."
)


def _no_store(request, response) -> None:
    response.headers["Cache-Control"] = NO_STORE
    response.headers.pop("Surrogate-Control", None)
    response.headers.pop("Surrogate-Key", None)


def refusal(request) -> str | None:
    """Why this request may not use the admin area, or None if it may."""
    user = request.user
    if user is None:
        return NOT_LOGGED_IN
    if not user.is_superuser:
        return NOT_ADMIN
    if not user.has_two_factor:
        return NO_TWO_FACTOR
    return None


def admin_only(view):
    """View decorator: the view runs for admins only; everyone else gets a 403 that says why."""

    @functools.wraps(view)
    def gate(context, request):
        request.add_response_callback(_no_store)
        reason = refusal(request)
        if reason is not None:
            response = render_to_response(
                FORBIDDEN_TEMPLATE,
                {"reason": reason, "needs_login": request.user is None},
                request=request,
            )
            response.status = 403
            return response
        return view(context, request)

    return gate


def actor_of(request) -> Actor:
    # Not request.client_addr: that believes any X-Forwarded-For (see warehouse.proxies).
    return Actor(request.user.username, "web", client_ip(request))
