"""Amazon SES: the production mail sender, through boto3's ``send_raw_email``.

The raw API is used (not ``send_email``) so that the message is the very MIME document the
SMTP sender builds: the same headers, a text part and an HTML alternative.
"""

from __future__ import annotations

import structlog
from zope.interface import implementer

from warehouse.email.interfaces import IEmailSender
from warehouse.email.services import build_message

log = structlog.get_logger(__name__)


@implementer(IEmailSender)
class SESEmailSender:
    def __init__(self, client, *, sender: str, configuration_set: str = ""):
        self.client = client
        self.sender = sender
        # A configuration set routes SES's bounce and complaint events to SNS (and our webhook).
        self.configuration_set = configuration_set

    @classmethod
    def from_settings(cls, settings) -> SESEmailSender:
        import boto3

        client = boto3.client(
            "ses", region_name=settings.ses_region, endpoint_url=settings.ses_endpoint_url
        )
        return cls(
            client, sender=settings.mail_sender, configuration_set=settings.ses_configuration_set
        )

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = build_message(self.sender, to, subject, text, html)
        extra = {"ConfigurationSetName": self.configuration_set} if self.configuration_set else {}
        response = self.client.send_raw_email(
            Source=self.sender,
            Destinations=[to],
            RawMessage={"Data": message.as_bytes()},
            **extra,
        )
        log.info("email sent", to=to, subject=subject, ses_message_id=response.get("MessageId"))
