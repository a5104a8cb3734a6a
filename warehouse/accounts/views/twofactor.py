"""Second factors on ``/manage/account/two-factor/``: TOTP and recovery codes."""

from __future__ import annotations

import base64
import binascii

from pyramid.view import view_config

from warehouse.accounts import notifications, twofactor
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.views._helpers import no_store, reauth_required, redirect
from warehouse.email import SITE_NAME
from warehouse.events import EventSource, record_event
from warehouse.events.tags import AccountTag

TOTP_METHOD = "An authenticator app (TOTP)"
# The secret being set up lives in the session until the user proves their app has it.
SESSION_PROVISIONING = "totp.provisioning"
RECOVERY_CODES_PAGE = "warehouse.accounts:templates/manage/recovery_codes.html"


def _provisioning_secret(request) -> bytes:
    stored = request.session.get(SESSION_PROVISIONING)
    if stored:
        try:
            return base64.b32decode(stored)
        except (binascii.Error, ValueError):
            pass
    secret = twofactor.new_totp_secret()
    request.session[SESSION_PROVISIONING] = base64.b32encode(secret).decode("ascii")
    return secret


def _totp_page(request, error=None) -> dict:
    user = request.user
    if user.has_totp:
        return {"enabled": True, "error": error}
    secret = _provisioning_secret(request)
    uri = twofactor.provisioning_uri(secret, user.username, SITE_NAME)
    return {
        "enabled": False,
        "qr_code": twofactor.qr_code_data_uri(uri),
        "secret": twofactor.secret_for_display(secret),
        "error": error,
    }


@view_config(
    route_name="manage.account.totp",
    renderer="warehouse.accounts:templates/manage/totp.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
    decorator=reauth_required("manage.account.totp"),
)
def totp_form(request):
    no_store(request)
    return _totp_page(request)


@view_config(
    route_name="manage.account.totp",
    renderer="warehouse.accounts:templates/manage/totp.html",
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account.totp"),
)
def totp_enable(request):
    no_store(request)
    user = request.user
    if user.has_totp:
        return redirect(request, "manage.account.totp")
    secret = _provisioning_secret(request)
    step = twofactor.totp_time_step(secret, request.POST.get("totp_value", ""))
    if step is None:
        return _totp_page(request, "That code is not right. Enter the code your app shows now.")
    # The code just typed must not also work for a login a moment later.
    twofactor.TotpReplayGuard(request.redis).claim(user.id, step)
    users = request.find_service(IUserService)
    users.enable_totp(user, secret)
    del request.session[SESSION_PROVISIONING]
    request.session.rotate()  # a privilege change: a fresh session id
    record_event(
        request,
        EventSource.user,
        user.id,
        AccountTag.TWO_FACTOR_ADDED,
        additional={"method": "totp"},
    )
    notifications.send_two_factor_added(request, user, TOTP_METHOD)
    codes = None
    if user.unused_recovery_codes == 0:
        codes = users.replace_recovery_codes(user)
        record_event(request, EventSource.user, user.id, AccountTag.RECOVERY_CODES_GENERATED)
    request.override_renderer = RECOVERY_CODES_PAGE
    return {"codes": codes, "just_enabled": True}


@view_config(
    route_name="manage.account.totp.remove",
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account.totp"),
)
def totp_remove(request):
    user = request.user
    if user.has_totp:
        request.find_service(IUserService).disable_totp(user)
        request.session.rotate()
        record_event(
            request,
            EventSource.user,
            user.id,
            AccountTag.TWO_FACTOR_REMOVED,
            additional={"method": "totp"},
        )
        notifications.send_two_factor_removed(request, user, TOTP_METHOD)
        request.session.flash("Your authenticator app has been removed.", queue="success")
    return redirect(request, "manage.account")


@view_config(
    route_name="manage.account.recovery_codes",
    renderer=RECOVERY_CODES_PAGE,
    request_method=("GET", "HEAD"),
    permission="manage:user",
)
def recovery_codes(request):
    return {"codes": None, "just_enabled": False}


@view_config(
    route_name="manage.account.recovery_codes",
    renderer=RECOVERY_CODES_PAGE,
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account.recovery_codes"),
)
def regenerate_recovery_codes(request):
    no_store(request)
    user = request.user
    if not user.has_two_factor:
        return redirect(request, "manage.account")
    codes = request.find_service(IUserService).replace_recovery_codes(user)
    record_event(request, EventSource.user, user.id, AccountTag.RECOVERY_CODES_GENERATED)
    return {"codes": codes, "just_enabled": False}
