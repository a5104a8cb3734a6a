"""Registering, verifying an email address, and resetting a forgotten password."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from warehouse.accounts import notifications
from warehouse.accounts.authentication import LoginLimits, complete_login
from warehouse.accounts.forms import RegistrationForm, ResetPasswordForm
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.signing import BadToken, ExpiredToken
from warehouse.accounts.views._helpers import redirect
from warehouse.admin.flags import Flag, flag_refusal
from warehouse.events import EventSource, record_event
from warehouse.events.tags import AccountTag


@view_config(
    route_name="accounts.register",
    renderer="warehouse.accounts:templates/accounts/register.html",
    request_method=("GET", "HEAD"),
)
def register_form(request):
    if request.user is not None:
        return HTTPSeeOther("/")
    return {
        "form": RegistrationForm(),
        "closed": flag_refusal(request, Flag.DISALLOW_NEW_USER_REGISTRATION),
    }


@view_config(
    route_name="accounts.register",
    renderer="warehouse.accounts:templates/accounts/register.html",
    request_method="POST",
)
def register(request):
    if request.user is not None:
        return HTTPSeeOther("/")
    users = request.find_service(IUserService)
    form = RegistrationForm(request.POST)
    if closed := flag_refusal(request, Flag.DISALLOW_NEW_USER_REGISTRATION):
        request.response.status = 403
        return {"form": form, "closed": closed}
    if not form.validate(users):
        return {"form": form}
    if not LoginLimits(request).register():
        request.response.status = 429
        form.add_error(
            "__all__", "Too many accounts have been created from your network. Try again later."
        )
        return {"form": form}
    user = users.create_user(
        form["username"], form["new_password"], email=form["email"], name=form["full_name"]
    )
    record_event(request, EventSource.user, user.id, AccountTag.CREATED, actor=user)
    notifications.send_email_verification(request, user, user.primary_email)
    complete_login(request, user, method="registration")
    request.session.flash(
        f"Welcome! We sent a link to {user.primary_email.email}: open it to verify your address.",
        queue="success",
    )
    return redirect(request, "manage.account")


@view_config(
    route_name="accounts.verify_email",
    renderer="warehouse.accounts:templates/accounts/verify_email.html",
    request_method=("GET", "HEAD"),
)
def verify_email(request):
    try:
        payload = notifications.read_email_verification_token(
            request, request.params.get("token", "")
        )
    except ExpiredToken:
        return {"verified": None, "error": "This link has expired. Ask for a new one below."}
    except BadToken:
        return {"verified": None, "error": "This link is not valid. Copy the whole link."}
    users = request.find_service(IUserService)
    email = users.find_email(str(payload.get("email", "")))
    # The id must match too: an address removed and added again needs a new link.
    if email is None or email.id != payload.get("email_id"):
        return {"verified": None, "error": "This address is no longer on any account."}
    if not email.verified:
        users.verify_email(email)
        record_event(
            request,
            EventSource.user,
            email.user_id,
            AccountTag.EMAIL_VERIFIED,
            actor=request.user or email.user,
            additional={"email": email.email},
        )
    return {"verified": email, "error": None}


@view_config(
    route_name="accounts.request_password_reset",
    renderer="warehouse.accounts:templates/accounts/request_password_reset.html",
    request_method=("GET", "HEAD"),
)
def request_password_reset_form(request):
    return {"sent_to": None}


@view_config(
    route_name="accounts.request_password_reset",
    renderer="warehouse.accounts:templates/accounts/request_password_reset.html",
    request_method="POST",
)
def request_password_reset(request):
    login = request.POST.get("username_or_email", "").strip()
    if not login:
        return {"sent_to": None, "error": "Enter your username or email address."}
    user = request.find_service(IUserService).find_by_login(login)
    address = _reset_address(user, login) if user is not None and user.is_active else None
    # Mail bombing guard: a handful of reset mails per account and window.
    limits = LoginLimits(request)
    if address is not None and limits.limiter.hit(f"reset:{user.id}"):
        notifications.send_password_reset(request, user, address)
        record_event(
            request, EventSource.user, user.id, AccountTag.PASSWORD_RESET_REQUEST, actor=user
        )
    # The same page whatever happened: it must not tell who has an account here.
    return {"sent_to": login}


def _reset_address(user, login: str) -> str | None:
    """Where the link goes: the address typed, or else the primary one; verified only.

    An unverified address may belong to someone else (a typo at sign-up); sending it a
    reset link would hand them the account.
    """
    verified = [email for email in user.emails if email.verified]
    for email in verified:
        if email.email.lower() == login.lower():
            return email.email
    for email in verified:
        if email.primary:
            return email.email
    return verified[0].email if verified else None


def _user_for_reset_token(request, token: str):
    try:
        payload = notifications.read_password_reset_token(request, token)
    except ExpiredToken:
        return None, "This link has expired. Ask for a new one."
    except BadToken:
        return None, "This link is not valid. Copy the whole link, or ask for a new one."
    user = request.find_service(IUserService).find_by_id(payload.get("user_id", ""))
    if user is None or not user.is_active:
        return None, "This link is not valid. Ask for a new one."
    if not notifications.reset_token_matches(request, user, payload):
        return None, "This link has already been used, or the password has changed since."
    return user, None


@view_config(
    route_name="accounts.reset_password",
    renderer="warehouse.accounts:templates/accounts/reset_password.html",
    request_method=("GET", "HEAD"),
)
def reset_password_form(request):
    token = request.params.get("token", "")
    user, error = _user_for_reset_token(request, token)
    if user is None:
        request.response.status = 400
    return {"form": ResetPasswordForm({"token": token}), "reset_user": user, "error": error}


@view_config(
    route_name="accounts.reset_password",
    renderer="warehouse.accounts:templates/accounts/reset_password.html",
    request_method="POST",
)
def reset_password(request):
    form = ResetPasswordForm(request.POST)
    user, error = _user_for_reset_token(request, form["token"])
    if user is None:
        request.response.status = 400
        return {"form": form, "reset_user": None, "error": error}
    if not form.validate(user):
        return {"form": form, "reset_user": user, "error": None}
    request.find_service(IUserService).set_password(user, form["new_password"])
    record_event(request, EventSource.user, user.id, AccountTag.PASSWORD_RESET, actor=user)
    notifications.send_password_changed(request, user)
    request.session.flash("Your password has been changed. Log in with it.", queue="success")
    return redirect(request, "accounts.login")
