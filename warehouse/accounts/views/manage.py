"""``/manage/account/``: email addresses, password, security history, deleting the account."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.security import forget
from pyramid.view import view_config

from warehouse.accounts import notifications
from warehouse.accounts.forms import ChangePasswordForm
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.security import refresh_session_after_password_change
from warehouse.accounts.services import AccountError
from warehouse.accounts.views._helpers import reauth_required, redirect
from warehouse.events import EventSource, events_for, record_event
from warehouse.events.tags import AccountTag, describe

ACCOUNT_PAGE = "warehouse.accounts:templates/manage/account.html"
HISTORY_LENGTH = 20


def account_page(request, **extra) -> dict:
    user = request.user
    users = request.find_service(IUserService)
    page = {
        "password_form": ChangePasswordForm(),
        "email_error": None,
        "new_email": "",
        "delete_error": None,
        "events": events_for(request.db, EventSource.user, user.id, limit=HISTORY_LENGTH),
        "blocking_projects": users.projects_blocking_deletion(user),
        "describe_event": describe,
        "settings_require_2fa": request.registry.settings["warehouse"].require_2fa,
    }
    page.update(extra)
    return page


@view_config(
    route_name="manage.account",
    renderer=ACCOUNT_PAGE,
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def account(request):
    return account_page(request)


@view_config(
    route_name="manage.account.password",
    renderer=ACCOUNT_PAGE,
    request_method="POST",
    permission="manage:user",
)
def change_password(request):
    # The current password is asked for in the form itself: no separate re-authentication.
    user = request.user
    users = request.find_service(IUserService)
    form = ChangePasswordForm(request.POST)
    if not form.validate(users, user):
        return account_page(request, password_form=form)
    users.set_password(user, form["new_password"])
    refresh_session_after_password_change(request, user)
    record_event(request, EventSource.user, user.id, AccountTag.PASSWORD_CHANGE)
    notifications.send_password_changed(request, user)
    request.session.flash(
        "Your password has been changed. Your other sessions are logged out.", queue="success"
    )
    return redirect(request, "manage.account")


# Email addresses --------------------------------------------------------------------------


@view_config(
    route_name="manage.account.email.add",
    renderer=ACCOUNT_PAGE,
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account"),
)
def add_email(request):
    user = request.user
    address = request.POST.get("email", "").strip()
    try:
        email = request.find_service(IUserService).add_email(user, address)
    except AccountError as exc:
        return account_page(request, email_error=str(exc), new_email=address)
    record_event(
        request, EventSource.user, user.id, AccountTag.EMAIL_ADDED, additional={"email": address}
    )
    notifications.send_email_verification(request, user, email)
    request.session.flash(
        f"We sent a link to {address}: open it to verify the address.", queue="success"
    )
    return redirect(request, "manage.account")


def _email_from_form(request):
    return request.find_service(IUserService).email_of(request.user, request.POST.get("email_id"))


@view_config(
    route_name="manage.account.email.resend",
    renderer=ACCOUNT_PAGE,
    request_method="POST",
    permission="manage:user",
)
def resend_verification(request):
    try:
        email = _email_from_form(request)
    except AccountError as exc:
        return account_page(request, email_error=str(exc))
    if email.verified:
        request.session.flash(f"{email.email} is already verified.", queue="success")
    else:
        notifications.send_email_verification(request, request.user, email)
        request.session.flash(f"We sent a new link to {email.email}.", queue="success")
    return redirect(request, "manage.account")


@view_config(
    route_name="manage.account.email.primary",
    renderer=ACCOUNT_PAGE,
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account"),
)
def make_primary(request):
    user = request.user
    users = request.find_service(IUserService)
    try:
        email = _email_from_form(request)
        previous = users.set_primary_email(user, email)
    except AccountError as exc:
        return account_page(request, email_error=str(exc))
    if previous is not None:
        record_event(
            request,
            EventSource.user,
            user.id,
            AccountTag.EMAIL_PRIMARY_CHANGED,
            additional={"from": previous.email, "to": email.email},
        )
    request.session.flash(f"{email.email} is now your primary address.", queue="success")
    return redirect(request, "manage.account")


@view_config(
    route_name="manage.account.email.remove",
    renderer=ACCOUNT_PAGE,
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account"),
)
def remove_email(request):
    user = request.user
    try:
        email = _email_from_form(request)
        address = email.email
        request.find_service(IUserService).remove_email(user, email)
    except AccountError as exc:
        return account_page(request, email_error=str(exc))
    record_event(
        request, EventSource.user, user.id, AccountTag.EMAIL_REMOVED, additional={"email": address}
    )
    request.session.flash(f"{address} has been removed from your account.", queue="success")
    return redirect(request, "manage.account")


# Deleting the account ------------------------------------------------------------------------


@view_config(
    route_name="manage.account.delete",
    renderer=ACCOUNT_PAGE,
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account"),
)
def delete_account(request):
    user = request.user
    if request.POST.get("confirm_username", "").strip() != user.username:
        return account_page(request, delete_error="Type your username exactly as shown to confirm.")
    username, user_id = user.username, user.id
    try:
        request.find_service(IUserService).delete_user(user)
    except AccountError as exc:
        return account_page(request, delete_error=str(exc))
    # The event outlives the account (events have no foreign key), as an audit trail.
    record_event(
        request, EventSource.user, user_id, AccountTag.DELETED, additional={"username": username}
    )
    forget(request)
    return HTTPSeeOther("/")
