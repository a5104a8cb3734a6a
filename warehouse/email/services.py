"""Email senders: SMTP for real mail, console for development (the message goes to the log)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import structlog
from zope.interface import implementer

from warehouse.email.interfaces import IEmailSender

log = structlog.get_logger(__name__)

TLS_MODES = ("starttls", "ssl", "none")


def build_message(sender: str, to: str, subject: str, text: str, html: str | None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    # Automated mail: ask auto-responders not to answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


@implementer(IEmailSender)
class SMTPEmailSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        tls: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ):
        if tls not in TLS_MODES:
            raise ValueError(f"SMTP TLS mode must be one of {TLS_MODES}, not {tls!r}")
        self.host = host
        self.port = port
        self.sender = sender
        self.tls = tls
        self.username = username
        self.password = password
        self.timeout = timeout

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = build_message(self.sender, to, subject, text, html)
        # One connection per message: mail is rare (sign-ups, resets) and a held-open
        # connection would time out between messages anyway.
        with self._connect() as smtp:
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
        log.info("email sent", to=to, subject=subject)


@implementer(IEmailSender)
class ConsoleEmailSender:
    """Writes each message to the log instead of sending it: links can be copied from there."""

    def __init__(self, *, sender: str = ""):
        self.sender = sender

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        log.info("email (console backend, not sent)", to=to, subject=subject, body=text)


def sender_from_settings(settings) -> SMTPEmailSender | ConsoleEmailSender:
    """The sender the settings choose (``email_backend``: "console" or "smtp")."""
    backend = getattr(settings, "email_backend", "console")
    sender = getattr(settings, "mail_sender", "Warehouse <noreply@localhost>")
    if backend == "console":
        return ConsoleEmailSender(sender=sender)
    if backend == "smtp":
        return SMTPEmailSender(
            getattr(settings, "smtp_host", "localhost"),
            int(getattr(settings, "smtp_port", 25)),
            sender=sender,
            tls=getattr(settings, "smtp_tls", "starttls"),
            username=getattr(settings, "smtp_username", None),
            password=getattr(settings, "smtp_password", None),
        )
    raise ValueError(f"unknown email backend {backend!r}: use 'console' or 'smtp'")
