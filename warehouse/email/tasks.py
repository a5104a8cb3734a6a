"""Mail is sent by a worker: a slow or failing mail server never holds up a web request.

``send_email.delay(to, subject, text, html)`` inside a request or a task's session leaves only
after the transaction commits (see :mod:`warehouse.tasks`), so no message describes a change
that was rolled back. A failed send is retried with backoff on errors that pass (a refused
connection, SES throttling).
"""

from __future__ import annotations

import functools
import smtplib

import botocore.exceptions
import structlog

from warehouse.email.services import sender_from_settings as basic_sender_from_settings
from warehouse.tasks import TRANSIENT_ERRORS, app

log = structlog.get_logger(__name__)

# SES answers these when we send too fast or it is briefly unavailable.
_SES_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceUnavailable"}


class TransientSendError(Exception):
    pass


def sender_from_settings(settings):
    """The sender ``email_backend`` names: "ses", or whatever the basic senders offer."""
    if settings.email_backend == "ses":
        from warehouse.email.ses import SESEmailSender

        return SESEmailSender.from_settings(settings)
    return basic_sender_from_settings(settings)


@functools.cache
def _sender_for(settings):
    # One sender (and boto3 client) per process and settings.
    return sender_from_settings(settings)


@app.task(
    name="warehouse.email.tasks.send_email",
    bind=True,
    autoretry_for=(*TRANSIENT_ERRORS, smtplib.SMTPServerDisconnected, TransientSendError),
)
def send_email(self, to: str, subject: str, text: str, html: str | None = None) -> None:
    sender = _sender_for(self.ctx.settings)
    try:
        sender.send(to, subject, text, html)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _SES_TRANSIENT_CODES:
            raise TransientSendError(str(exc)) from exc
        raise
