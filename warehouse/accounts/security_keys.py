"""WebAuthn security keys and passkeys as a second factor (py_webauthn does the crypto).

Each ceremony is two requests: the page carries options with a fresh challenge (kept in the
session, usable once), the browser asks the authenticator, and the form posts the result
back as JSON for verification. The relying party is the site's host name; the origin
must match the site's address exactly.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from warehouse.accounts.models import User, WebAuthnCredential
from warehouse.db import utcnow
from warehouse.email import SITE_NAME, site_url

MAX_LABEL_LENGTH = 64
_REGISTRATION_CHALLENGE = "webauthn.registration"
_AUTHENTICATION_CHALLENGE = "webauthn.authentication"


class SecurityKeyError(Exception):
    """The browser's answer did not verify; the message is for the person at the keyboard."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def relying_party(request) -> tuple[str, str]:
    """(rp_id, origin): the host name and the scheme://host[:port] the browser reports."""
    parts = urlsplit(site_url(request))
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=_unb64url(credential.credential_id))
        for credential in user.webauthn_credentials
    ]


def _pop_challenge(request, key: str) -> bytes:
    stored = request.session.pop(key, None)
    if not stored:
        raise SecurityKeyError("The request expired. Reload the page and try again.")
    return _unb64url(stored)


def _credential_json(text: str) -> dict:
    try:
        value = json.loads(text or "")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SecurityKeyError("Your browser did not send an answer from the security key.")
    return value


def registration_options(request, user: User) -> str:
    """Options for ``navigator.credentials.create()``, as JSON for the page."""
    rp_id, _ = relying_party(request)
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=SITE_NAME,
        user_id=user.id.bytes,
        user_name=user.username,
        user_display_name=user.name or user.username,
        # A second factor, not a passwordless login: no need to store the account on the key
        # or to ask for its PIN.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.DISCOURAGED,
        ),
        exclude_credentials=_descriptors(user),
    )
    request.session[_REGISTRATION_CHALLENGE] = _b64url(options.challenge)
    return webauthn.options_to_json(options)


def register(request, user: User, credential_text: str, label: str) -> WebAuthnCredential:
    label = label.strip()
    if not label or len(label) > MAX_LABEL_LENGTH:
        raise SecurityKeyError(f"Name the key with 1 to {MAX_LABEL_LENGTH} characters.")
    if any(existing.label == label for existing in user.webauthn_credentials):
        raise SecurityKeyError("You already have a key with that name.")
    challenge = _pop_challenge(request, _REGISTRATION_CHALLENGE)
    rp_id, origin = relying_party(request)
    try:
        verified = webauthn.verify_registration_response(
            credential=_credential_json(credential_text),
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise SecurityKeyError(f"The security key could not be registered: {exc}") from None
    credential = WebAuthnCredential(
        label=label,
        credential_id=_b64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
    )
    user.webauthn_credentials.append(credential)
    request.db.flush()
    return credential


def authentication_options(request, user: User) -> str:
    """Options for ``navigator.credentials.get()``, as JSON for the page."""
    rp_id, _ = relying_party(request)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=_descriptors(user),
        user_verification=UserVerificationRequirement.DISCOURAGED,
    )
    request.session[_AUTHENTICATION_CHALLENGE] = _b64url(options.challenge)
    return webauthn.options_to_json(options)


def authenticate(request, user: User, credential_text: str) -> WebAuthnCredential:
    challenge = _pop_challenge(request, _AUTHENTICATION_CHALLENGE)
    answer = _credential_json(credential_text)
    by_id = {credential.credential_id: credential for credential in user.webauthn_credentials}
    stored = by_id.get(str(answer.get("id", "")))
    if stored is None:
        raise SecurityKeyError("That security key is not registered to this account.")
    rp_id, origin = relying_party(request)
    try:
        verified = webauthn.verify_authentication_response(
            credential=answer,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.sign_count,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
        raise SecurityKeyError("The security key's answer did not verify. Try again.") from None
    # py_webauthn refuses a counter that did not grow (a sign of a cloned key); keep the
    # new value for the next comparison.
    stored.sign_count = verified.new_sign_count
    stored.last_used = utcnow()
    return stored


def remove(request, user: User, credential_id: str) -> WebAuthnCredential | None:
    """Remove one of the user's keys by its credential id; the removed key, or None."""
    for credential in user.webauthn_credentials:
        if credential.credential_id == credential_id:
            user.webauthn_credentials.remove(credential)
            request.db.flush()
            return credential
    return None
