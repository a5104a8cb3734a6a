"""``/manage/account/token/``: create, list and revoke API tokens."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from pyramid.view import view_config

from warehouse.accounts import notifications
from warehouse.accounts.forms import TOKEN_EXPIRY_CHOICES, TokenForm
from warehouse.accounts.views._helpers import no_store, reauth_required, redirect
from warehouse.events import EventSource, record_event
from warehouse.events.tags import AccountTag
from warehouse.packaging.models import Project, Role
from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.models import APIToken

TOKEN_PAGE = "warehouse.accounts:templates/manage/token.html"


def _project_names(request) -> list[str]:
    """Normalized names of the projects the user has a role on, for scoping tokens."""
    return list(
        request.db.scalars(
            sa.select(Project.normalized_name)
            .join(Role, Role.project_id == Project.id)
            .where(Role.user_id == request.user.id)
            .order_by(Project.normalized_name)
        )
    )


def _tokens(request) -> list[APIToken]:
    return list(
        request.db.scalars(
            sa.select(APIToken)
            .where(APIToken.user_id == request.user.id)
            .order_by(APIToken.created.desc())
        )
    )


def token_page(request, form: TokenForm | None = None, new_token: str | None = None) -> dict:
    projects = _project_names(request)
    settings = request.registry.settings["warehouse"]
    user = request.user
    return {
        "form": form or TokenForm(available_projects=projects),
        "projects": projects,
        "tokens": _tokens(request),
        "expiry_choices": TOKEN_EXPIRY_CHOICES,
        "new_token": new_token,
        "upload_blockers": [
            reason
            for required, satisfied, reason in (
                (
                    settings.require_verified_email,
                    user.has_verified_email,
                    "verify an email address",
                ),
                (settings.require_2fa, user.has_two_factor, "turn on two-factor authentication"),
            )
            if required and not satisfied
        ],
    }


@view_config(
    route_name="manage.account.token",
    renderer=TOKEN_PAGE,
    request_method=("GET", "HEAD"),
    permission="manage:user",
    decorator=reauth_required("manage.account.token"),
)
def tokens(request):
    return token_page(request)


@view_config(
    route_name="manage.account.token",
    renderer=TOKEN_PAGE,
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account.token"),
)
def create_token(request):
    user = request.user
    form = TokenForm(request.POST, available_projects=_project_names(request))
    if not form.validate():
        return token_page(request, form=form)
    token, secret = request.find_service(ITokenService).create(
        user,
        projects=form.chosen_projects,
        expires=form.expires,
        description=form["description"],
        scopes=form.permissions,
    )
    scope = "all your projects" if token.projects is None else ", ".join(token.projects)
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.API_TOKEN_ADDED,
        additional={
            "token_id": str(token.id),
            "description": token.description,
            "projects": token.projects,
            "scopes": token.scopes,
            "expires": token.expires.isoformat() if token.expires else None,
        },
    )
    notifications.send_token_created(request, user, token.description, scope)
    # Rendered, not redirected: the secret goes out in this one response and is kept nowhere.
    no_store(request)
    return token_page(request, new_token=secret)


@view_config(
    route_name="manage.account.token.revoke",
    request_method="POST",
    permission="manage:user",
)
def revoke_token(request):
    # Revoking takes power away, so it needs no fresh password: a stolen session that can
    # only revoke tokens is a nuisance, while a slow revoke during an incident is a danger.
    user = request.user
    token = request.db.scalar(
        sa.select(APIToken).where(
            APIToken.user_id == user.id,
            APIToken.id == _uuid_or_none(request.POST.get("token_id", "")),
        )
    )
    if token is None:
        request.session.flash("That token does not exist or was already revoked.", queue="error")
        return redirect(request, "manage.account.token")
    description = token.description
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.API_TOKEN_REMOVED,
        additional={"token_id": str(token.id), "description": description},
    )
    request.find_service(ITokenService).revoke(token)
    request.session.flash(f"The token {description!r} has been revoked.", queue="success")
    return redirect(request, "manage.account.token")


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
