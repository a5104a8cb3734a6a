"""The account pages: ``/account/...`` (logging in, registering, recovering) and
``/manage/account/...`` (settings, second factors, API tokens).

Views parse a form, call the user service, record an event, send an email and render;
the rules live in :mod:`warehouse.accounts.services` and its neighbours.
"""

from __future__ import annotations

from warehouse.web.static import ContentHashCacheBuster

ROUTES = (
    ("accounts.login", "/account/login/"),
    ("accounts.logout", "/account/logout/"),
    ("accounts.register", "/account/register/"),
    ("accounts.two_factor", "/account/two-factor/"),
    ("accounts.recovery_code", "/account/recovery-code/"),
    ("accounts.webauthn_authenticate", "/account/two-factor/security-key/"),
    ("accounts.reauthenticate", "/account/reauthenticate/"),
    ("accounts.verify_email", "/account/verify-email/"),
    ("accounts.request_password_reset", "/account/request-password-reset/"),
    ("accounts.reset_password", "/account/reset-password/"),
    ("manage.account", "/manage/account/"),
    ("manage.account.password", "/manage/account/password/"),
    ("manage.account.email.add", "/manage/account/email/add/"),
    ("manage.account.email.resend", "/manage/account/email/resend/"),
    ("manage.account.email.primary", "/manage/account/email/primary/"),
    ("manage.account.email.remove", "/manage/account/email/remove/"),
    ("manage.account.delete", "/manage/account/delete/"),
    ("manage.account.totp", "/manage/account/two-factor/totp/"),
    ("manage.account.totp.remove", "/manage/account/two-factor/totp/remove/"),
    ("manage.account.webauthn", "/manage/account/two-factor/security-keys/"),
    ("manage.account.webauthn.remove", "/manage/account/two-factor/security-keys/remove/"),
    ("manage.account.recovery_codes", "/manage/account/two-factor/recovery-codes/"),
    ("manage.account.token", "/manage/account/token/"),
    ("manage.account.token.revoke", "/manage/account/token/revoke/"),
)


STATIC_SPEC = "warehouse.accounts:static/"


def includeme(config) -> None:
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
    # The security-key script; its URL carries a hash of its content, so it can be cached.
    config.add_static_view("account/static", STATIC_SPEC, cache_max_age=365 * 24 * 3600)
    config.add_cache_buster(STATIC_SPEC, ContentHashCacheBuster())
    config.scan(__name__)
