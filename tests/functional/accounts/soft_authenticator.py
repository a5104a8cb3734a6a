"""A software WebAuthn authenticator for tests: "none" attestation, an ES256 key.

It answers the options the site puts in the page the way a browser and a security key
would, so the server's real verification (py_webauthn) runs on real signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    USER_PRESENT = 0x01
    ATTESTED_CREDENTIAL = 0x40

    def __init__(self, origin: str = "http://localhost"):
        self.origin = origin
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def _cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        ).encode()

    def create(self, options_json: str, *, origin: str | None = None) -> dict:
        """What ``navigator.credentials.create()`` resolves to, as the page's script sends it."""
        options = json.loads(options_json)
        excluded = {item["id"] for item in options.get("excludeCredentials", [])}
        assert self.id not in excluded, "the authenticator is already registered"
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(options["rp"]["id"].encode()).digest()
            + bytes([self.USER_PRESENT | self.ATTESTED_CREDENTIAL])
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
            },
        }

    def get(self, options_json: str, *, origin: str | None = None) -> dict:
        """What ``navigator.credentials.get()`` resolves to."""
        options = json.loads(options_json)
        allowed = {item["id"] for item in options.get("allowCredentials", [])}
        assert self.id in allowed, "the site did not ask for this authenticator"
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        self.sign_count += 1
        auth_data = (
            hashlib.sha256(options["rpId"].encode()).digest()
            + bytes([self.USER_PRESENT])
            + self.sign_count.to_bytes(4, "big")
        )
        signature = self.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
            },
        }
