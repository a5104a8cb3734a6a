"""The SES notification webhook: ``POST /_ses-webhook/``, fed by an SNS topic.

SES publishes bounces and complaints to SNS, which POSTs them here. Anyone can POST to this
URL, so every message's signature is checked against the certificate SNS names, and that
certificate is fetched only over HTTPS from SNS's own hosts (``sns.<region>.amazonaws.com``):
otherwise a forger would simply point us at their own certificate.

What the messages do:

* ``SubscriptionConfirmation``: we confirm the subscription (a GET of ``SubscribeURL``);
* a permanent bounce or a complaint: the address is marked unverified at once;
* a transient bounce (a full mailbox, a server down): recorded as an event; the address is
  marked unverified after TRANSIENT_LIMIT of them within TRANSIENT_WINDOW. The events are
  the counter, so a burst long ago does not count against an address that works now.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
import urllib.request
from urllib.parse import urlsplit

import sqlalchemy as sa
import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from pyramid.httpexceptions import HTTPBadRequest
from pyramid.view import view_config

from warehouse.accounts.models import Email
from warehouse.db import utcnow
from warehouse.events import EventSource, record_event
from warehouse.events.models import Event

log = structlog.get_logger(__name__)

CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
TRANSIENT_LIMIT = 3
TRANSIENT_WINDOW = datetime.timedelta(days=7)


class EmailTag:
    BOUNCE_PERMANENT = "account:email:bounce:permanent"
    BOUNCE_TRANSIENT = "account:email:bounce:transient"
    COMPLAINT = "account:email:complaint"
    UNVERIFIED = "account:email:unverified"


class InvalidMessage(ValueError):
    pass


# Which fields are signed, in order, by message type (SNS's documented canonical form).
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]


def string_to_sign(message: dict) -> bytes:
    fields = _SIGNED_FIELDS.get(message.get("Type"))
    if fields is None:
        raise InvalidMessage(f"unknown message type {message.get('Type')!r}")
    parts = []
    for field in fields:
        if field in message and message[field] is not None:  # Subject is optional
            parts.append(f"{field}\n{message[field]}\n")
    return "".join(parts).encode()


def check_cert_url(url: str) -> None:
    parts = urlsplit(url or "")
    if parts.scheme != "https" or not CERT_HOST.match(parts.hostname or ""):
        raise InvalidMessage(f"signing certificate not from SNS: {url!r}")


@functools.lru_cache(maxsize=16)
def fetch_certificate(url: str) -> bytes:
    """The PEM at ``url`` (already checked to be SNS's); cached: SNS reuses its certificates."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https, SNS host
        return response.read()


def verify(message: dict, fetch=fetch_certificate) -> None:
    """Raise :class:`InvalidMessage` unless SNS signed ``message``."""
    version = str(message.get("SignatureVersion"))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)  # noqa: S303
    if algorithm is None:
        raise InvalidMessage(f"unknown signature version {version!r}")
    url = message.get("SigningCertURL", "")
    check_cert_url(url)
    try:
        signature = base64.b64decode(message.get("Signature", ""), validate=True)
        certificate = x509.load_pem_x509_certificate(fetch(url))
        certificate.public_key().verify(
            signature, string_to_sign(message), padding.PKCS1v15(), algorithm
        )
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise InvalidMessage(f"bad signature: {exc}") from exc


def default_http_get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - SNS's URL
        response.read()


# What a notification does to the addresses it names ----------------------------------------


def _email_row(session, address: str) -> Email | None:
    return session.scalar(sa.select(Email).where(Email.email == address))


def _event(session, email: Email, tag: str, **additional) -> None:
    record_event(
        session,
        EventSource.user,
        email.user_id,
        tag,
        additional={"email": email.email, **additional},
    )


def _unverify(session, email: Email, reason: str) -> None:
    if email.verified:
        email.verified = False
        _event(session, email, EmailTag.UNVERIFIED, reason=reason)
        log.info("email address unverified", email=email.email, reason=reason)


def _recent_transient_bounces(session, email: Email) -> int:
    since = utcnow() - TRANSIENT_WINDOW
    return session.scalar(
        sa.select(sa.func.count())
        .select_from(Event)
        .where(
            Event.source == str(EventSource.user),
            Event.source_id == str(email.user_id),
            Event.tag == EmailTag.BOUNCE_TRANSIENT,
            Event.time >= since,
            Event.additional["email"].astext == email.email,
        )
    )


def handle_ses_event(session, event: dict) -> None:
    kind = event.get("notificationType") or event.get("eventType")
    if kind == "Bounce":
        bounce = event.get("bounce", {})
        permanent = bounce.get("bounceType") == "Permanent"
        for recipient in bounce.get("bouncedRecipients", []):
            email = _email_row(session, recipient.get("emailAddress", ""))
            if email is None:
                continue
            if permanent:
                _event(session, email, EmailTag.BOUNCE_PERMANENT)
                _unverify(session, email, "permanent bounce")
            else:
                _event(session, email, EmailTag.BOUNCE_TRANSIENT)
                session.flush()
                if _recent_transient_bounces(session, email) >= TRANSIENT_LIMIT:
                    _unverify(session, email, "repeated transient bounces")
    elif kind == "Complaint":
        for recipient in event.get("complaint", {}).get("complainedRecipients", []):
            email = _email_row(session, recipient.get("emailAddress", ""))
            if email is not None:
                _event(session, email, EmailTag.COMPLAINT)
                _unverify(session, email, "complaint")


# The view ---------------------------------------------------------------------------------


@view_config(route_name="ses.webhook", request_method="POST", renderer="json", require_csrf=False)
def ses_webhook(request):
    registry = request.registry
    try:
        message = json.loads(request.body)
        if not isinstance(message, dict):
            raise InvalidMessage("not an SNS message")
        verify(message, registry.get("ses.cert_fetcher", fetch_certificate))
    except (ValueError, InvalidMessage) as exc:
        log.warning("rejected SNS message", error=str(exc))
        raise HTTPBadRequest("invalid SNS message") from exc

    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        check_subscribe_url(message.get("SubscribeURL", ""))
        registry.get("ses.http_get", default_http_get)(message["SubscribeURL"])
        log.info("SNS subscription confirmed", topic=message.get("TopicArn"))
    elif kind == "Notification":
        try:
            event = json.loads(message["Message"])
        except (TypeError, ValueError) as exc:
            raise HTTPBadRequest("notification is not an SES event") from exc
        handle_ses_event(request.db, event)
    return {"status": "ok"}


def check_subscribe_url(url: str) -> None:
    # The same hosts as the certificate: a signed message cannot make us GET elsewhere anyway,
    # but this keeps the webhook from ever being a way to reach other hosts.
    parts = urlsplit(url)
    if parts.scheme != "https" or not CERT_HOST.match(parts.hostname or ""):
        raise HTTPBadRequest("SubscribeURL not on SNS")


def includeme(config) -> None:
    config.add_route("ses.webhook", "/_ses-webhook/")
    config.scan(__name__)
