"""``/user/<username>/``: a user's public profile and projects."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPMovedPermanently, HTTPNotFound
from pyramid.view import view_config

from warehouse.web import queries


@view_config(route_name="accounts.profile", renderer="users/profile.html", request_method="GET")
def profile(request):
    username = request.matchdict["username"]
    user = queries.find_user(request.db, username)
    if user is None or not user.is_active:
        raise HTTPNotFound()
    if user.username != username:  # usernames match case-insensitively; show one spelling
        raise HTTPMovedPermanently(request.route_path("accounts.profile", username=user.username))
    return {"profile_user": user, "projects": queries.projects_of(request.db, user)}


def includeme(config) -> None:
    config.add_route("accounts.profile", "/user/{username}/")
    config.scan(__name__)
