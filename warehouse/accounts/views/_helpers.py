"""What several account views share: templates, redirects and the re-authentication gate."""

from __future__ import annotations

import functools

from pyramid.httpexceptions import HTTPSeeOther

from warehouse.accounts.authentication import recently_authenticated

# Pages with secrets on them (new tokens, recovery codes) must not linger in any cache.
NO_STORE = "no-store"


def redirect(request, route_name: str, **query) -> HTTPSeeOther:
    return HTTPSeeOther(request.route_path(route_name, _query=query or {}))


def no_store(request) -> None:
    request.response.headers["Cache-Control"] = NO_STORE


def reauth_required(return_route: str):
    """Send the user to confirm their password first if they have not typed it lately.

    A GET comes back to the same page afterwards; a POST cannot be replayed, so it comes
    back to ``return_route``, where the user submits again.
    """

    def decorator(view):
        @functools.wraps(view)
        def gate(context, request):
            if request.user is not None and not recently_authenticated(request):
                if request.method in ("GET", "HEAD"):
                    target = request.path_qs
                else:
                    target = request.route_path(return_route)
                    request.session.flash(
                        "Confirm your password, then submit the form again.", queue="warning"
                    )
                return redirect(request, "accounts.reauthenticate", next=target)
            return view(context, request)

        return gate

    return decorator
