"""Second factors on ``/manage/account/two-factor/``: TOTP, security keys, recovery codes."""

from __future__ import annotations

import base64
import binascii

from pyramid.view import view_config

from warehouse.accounts import notifications, security_keys, twofactor
from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.views._helpers import no_store, reauth_required, redirect
from warehouse.email import SITE_NAME
from warehouse.events import EventSource, record_event
from warehouse.events.tags import AccountTag

TOTP_METHOD = "An authenticator app (TOTP)"
SECURITY_KEY_METHOD = "A security key ({label})"
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
    request.find_service(IUserService).enable_totp(user, secret)
    del request.session[SESSION_PROVISIONING]
    return _factor_added(request, {"method": "totp"}, TOTP_METHOD)


def _factor_added(request, details: dict, description: str) -> dict:
    """What follows adding any second factor: a new session id, the record, the mail, and
    recovery codes if the account has none left (shown on the page this returns)."""
    user = request.user
    request.session.rotate()  # a privilege change: a fresh session id
    record_event(
        request, EventSource.user, user.id, AccountTag.TWO_FACTOR_ADDED, additional=details
    )
    notifications.send_two_factor_added(request, user, description)
    codes = None
    if user.unused_recovery_codes == 0:
        codes = request.find_service(IUserService).replace_recovery_codes(user)
        record_event(request, EventSource.user, user.id, AccountTag.RECOVERY_CODES_GENERATED)
    request.override_renderer = RECOVERY_CODES_PAGE
    no_store(request)
    return {"codes": codes, "just_enabled": True}


def _factor_removed(request, details: dict, description: str) -> None:
    user = request.user
    request.session.rotate()
    record_event(
        request, EventSource.user, user.id, AccountTag.TWO_FACTOR_REMOVED, additional=details
    )
    notifications.send_two_factor_removed(request, user, description)


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
        _factor_removed(request, {"method": "totp"}, TOTP_METHOD)
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


# Security keys (WebAuthn) ---------------------------------------------------------------------


def _security_keys_page(request, error=None, label="") -> dict:
    return {
        "options": security_keys.registration_options(request, request.user),
        "error": error,
        "label": label,
    }


@view_config(
    route_name="manage.account.webauthn",
    renderer="warehouse.accounts:templates/manage/security_keys.html",
    request_method=("GET", "HEAD"),
    permission="manage:user",
    decorator=reauth_required("manage.account.webauthn"),
)
def security_keys_page(request):
    return _security_keys_page(request)


@view_config(
    route_name="manage.account.webauthn",
    renderer="warehouse.accounts:templates/manage/security_keys.html",
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account.webauthn"),
)
def add_security_key(request):
    label = request.POST.get("label", "")
    try:
        key = security_keys.register(
            request, request.user, request.POST.get("credential", ""), label
        )
    except security_keys.SecurityKeyError as exc:
        return _security_keys_page(request, str(exc), label)
    return _factor_added(
        request,
        {"method": "webauthn", "label": key.label},
        SECURITY_KEY_METHOD.format(label=key.label),
    )


@view_config(
    route_name="manage.account.webauthn.remove",
    request_method="POST",
    permission="manage:user",
    decorator=reauth_required("manage.account.webauthn"),
)
def remove_security_key(request):
    user = request.user
    key = security_keys.remove(request, user, request.POST.get("credential_id", ""))
    if key is not None:
        request.find_service(IUserService).drop_orphaned_recovery_codes(user)
        _factor_removed(
            request,
            {"method": "webauthn", "label": key.label},
            SECURITY_KEY_METHOD.format(label=key.label),
        )
        request.session.flash(f"The security key {key.label!r} has been removed.", queue="success")
    return redirect(request, "manage.account.webauthn")
