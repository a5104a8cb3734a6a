"""The account emails and the signed links some of them carry."""

from __future__ import annotations

from warehouse.accounts.models import Email, User
from warehouse.accounts.passwords import password_fingerprint
from warehouse.accounts.signing import Signer
from warehouse.email import send_email, site_url

EMAIL_VERIFICATION_SECONDS = 72 * 3600
PASSWORD_RESET_SECONDS = 6 * 3600


def site_secret(request) -> str:
    return request.registry.settings["warehouse"].secret_key


def email_verification_signer(secret_key: str) -> Signer:
    return Signer(secret_key, "verify-email", max_age=EMAIL_VERIFICATION_SECONDS)


def password_reset_signer(secret_key: str) -> Signer:
    return Signer(secret_key, "password-reset", max_age=PASSWORD_RESET_SECONDS)


def read_email_verification_token(request, token: str) -> dict:
    """The payload of a verification link; raises ``BadToken`` or ``ExpiredToken``."""
    return email_verification_signer(site_secret(request)).unsign(token)


def read_password_reset_token(request, token: str) -> dict:
    """The payload of a reset link; raises ``BadToken`` or ``ExpiredToken``."""
    return password_reset_signer(site_secret(request)).unsign(token)


def password_reset_token(request, user: User) -> str:
    # The fingerprint of the current password hash makes the link single-use: using it
    # changes the password, and so does any other password change in the meantime.
    return password_reset_signer(site_secret(request)).sign(
        {
            "user_id": str(user.id),
            "password": password_fingerprint(site_secret(request), user.password),
        }
    )


def reset_token_matches(request, user: User, payload: dict) -> bool:
    return payload.get("password") == password_fingerprint(site_secret(request), user.password)


def send_email_verification(request, user: User, email: Email) -> None:
    token = email_verification_signer(site_secret(request)).sign(
        {"email_id": email.id, "email": email.email}
    )
    link = site_url(request) + request.route_path("accounts.verify_email", _query={"token": token})
    send_email(
        request,
        "verify-email",
        email.email,
        username=user.username,
        email=email.email,
        link=link,
        hours=EMAIL_VERIFICATION_SECONDS // 3600,
    )


def send_password_reset(request, user: User, address: str) -> None:
    token = password_reset_token(request, user)
    link = site_url(request) + request.route_path(
        "accounts.reset_password", _query={"token": token}
    )
    send_email(
        request,
        "password-reset",
        address,
        username=user.username,
        link=link,
        hours=PASSWORD_RESET_SECONDS // 3600,
    )


def _notify_primary(request, user: User, template: str, **context) -> None:
    """Security notices go to the primary address, verified or not: it is all we have."""
    email = user.primary_email
    if email is not None:
        send_email(request, template, email.email, username=user.username, **context)


def send_password_changed(request, user: User) -> None:
    _notify_primary(request, user, "password-changed")


def send_two_factor_added(request, user: User, method: str) -> None:
    _notify_primary(request, user, "two-factor-added", method=method)


def send_two_factor_removed(request, user: User, method: str) -> None:
    _notify_primary(request, user, "two-factor-removed", method=method)


def send_token_created(request, user: User, description: str, scope: str) -> None:
    _notify_primary(request, user, "token-created", description=description, scope=scope)


def send_role_invitation(request, invitee: User, project_name: str, role: str) -> None:
    """Tell the invitee where to accept: their verified primary address, if they have one."""
    email = invitee.primary_email
    if email is None or not email.verified:
        return  # the invitation still waits on their projects page
    send_email(
        request,
        "role-invitation",
        email.email,
        username=invitee.username,
        inviter=request.user.username,
        project=project_name,
        role=role,
        link=site_url(request) + request.route_path("manage.projects"),
    )
