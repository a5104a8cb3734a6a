"""Logging in (password, then the second factor), logging out, re-authenticating."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from warehouse.accounts import authentication, security_keys
from warehouse.accounts.forms import LoginForm
from warehouse.accounts.views._helpers import redirect

NEXT = "next"


def _next_url(request) -> str:
    return authentication.safe_next(request.params.get(NEXT), "/manage/account/")


@view_config(
    route_name="accounts.login",
    renderer="warehouse.accounts:templates/accounts/login.html",
    request_method=("GET", "HEAD"),
)
def login_form(request):
    if request.user is not None:
        return HTTPSeeOther(_next_url(request))
    return {"form": LoginForm(), "next": _next_url(request)}


@view_config(
    route_name="accounts.login",
    renderer="warehouse.accounts:templates/accounts/login.html",
    request_method="POST",
)
def login(request):
    form = LoginForm(request.POST)
    next_url = _next_url(request)
    if not form.validate():
        return {"form": form, "next": next_url}
    attempt = authentication.check_password_login(request, form["username"], form["password"])
    if attempt.user is None:
        request.response.status = 429 if attempt.rate_limited else 200
        form.add_error("__all__", attempt.error)
        return {"form": form, "next": next_url}
    if attempt.user.has_two_factor:
        authentication.start_second_factor(request, attempt.user, next_url)
        return redirect(request, "accounts.two_factor")
    authentication.complete_login(request, attempt.user, method="password")
    return HTTPSeeOther(next_url)


def _second_factor_page(request, template_error=None, status=200):
    user, _ = authentication.pending_login(request)
    if user is None:
        request.session.flash("Your login timed out. Log in again.", queue="warning")
        return redirect(request, "accounts.login")
    request.response.status = status
    webauthn_options = (
        security_keys.authentication_options(request, user) if user.webauthn_credentials else None
    )
    return {"pending_user": user, "error": template_error, "webauthn_options": webauthn_options}


@view_config(
    route_name="accounts.two_factor",
    renderer="warehouse.accounts:templates/accounts/two_factor.html",
    request_method=("GET", "HEAD"),
)
def two_factor_form(request):
    return _second_factor_page(request)


@view_config(
    route_name="accounts.two_factor",
    renderer="warehouse.accounts:templates/accounts/two_factor.html",
    request_method="POST",
)
def two_factor(request):
    user, next_url = authentication.pending_login(request)
    if user is None:
        return _second_factor_page(request)
    attempt = authentication.check_totp(request, user, request.POST.get("totp_value", ""))
    if attempt.user is None:
        return _second_factor_page(request, attempt.error, 429 if attempt.rate_limited else 200)
    authentication.complete_login(request, user, method="totp")
    return HTTPSeeOther(next_url)


@view_config(
    route_name="accounts.webauthn_authenticate",
    renderer="warehouse.accounts:templates/accounts/two_factor.html",
    request_method="POST",
)
def security_key_login(request):
    user, next_url = authentication.pending_login(request)
    if user is None:
        return _second_factor_page(request)
    credential = request.POST.get("credential", "")
    attempt = authentication.check_security_key(request, user, credential)
    if attempt.user is None:
        return _second_factor_page(request, attempt.error, 429 if attempt.rate_limited else 200)
    authentication.complete_login(request, user, method="webauthn")
    return HTTPSeeOther(next_url)


@view_config(
    route_name="accounts.recovery_code",
    renderer="warehouse.accounts:templates/accounts/recovery_code.html",
    request_method=("GET", "HEAD"),
)
def recovery_code_form(request):
    return _second_factor_page(request)


@view_config(
    route_name="accounts.recovery_code",
    renderer="warehouse.accounts:templates/accounts/recovery_code.html",
    request_method="POST",
)
def recovery_code(request):
    user, next_url = authentication.pending_login(request)
    if user is None:
        return _second_factor_page(request)
    code = request.POST.get("recovery_code_value", "")
    attempt = authentication.check_recovery_code(request, user, code)
    if attempt.user is None:
        return _second_factor_page(request, attempt.error, 429 if attempt.rate_limited else 200)
    authentication.complete_login(request, user, method="recovery_code")
    remaining = user.unused_recovery_codes
    request.session.flash(
        f"You used a recovery code; {remaining} remain. If you lost your device, "
        "set up two-factor authentication again and make new recovery codes.",
        queue="warning",
    )
    return HTTPSeeOther(next_url)


@view_config(
    route_name="accounts.logout",
    renderer="warehouse.accounts:templates/accounts/logout.html",
    request_method=("GET", "HEAD"),
)
def logout_form(request):
    # Logging out is a POST (with a CSRF token): a GET only asks, so that a link or an
    # image elsewhere cannot log anyone out.
    if request.user is None:
        return HTTPSeeOther("/")
    return {}


@view_config(route_name="accounts.logout", request_method="POST")
def logout(request):
    authentication.log_out(request)
    return HTTPSeeOther("/")


@view_config(
    route_name="accounts.reauthenticate",
    renderer="warehouse.accounts:templates/accounts/reauthenticate.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def reauthenticate_form(request):
    return {"next": _next_url(request), "error": None}


@view_config(
    route_name="accounts.reauthenticate",
    renderer="warehouse.accounts:templates/accounts/reauthenticate.html",
    request_method="POST",
    permission="manage:user",
)
def reauthenticate(request):
    user = request.user
    next_url = _next_url(request)
    attempt = authentication.check_password_login(
        request, user.username, request.POST.get("password", "")
    )
    if attempt.user is None or attempt.user.id != user.id:
        request.response.status = 429 if attempt.rate_limited else 200
        return {"next": next_url, "error": attempt.error}
    authentication.mark_reauthenticated(request)
    return HTTPSeeOther(next_url)
