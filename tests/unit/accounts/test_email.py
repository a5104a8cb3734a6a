"""The email senders (against a real aiosmtpd server) and the message templates."""

from __future__ import annotations

import smtplib
import types

import pytest
from structlog.testing import capture_logs

from tests.support.mail import SMTPTestServer
from warehouse.email.messages import render_email, template_names
from warehouse.email.services import (
    ConsoleEmailSender,
    SMTPEmailSender,
    build_message,
    sender_from_settings,
)

SENDER = "Warehouse <noreply@example.test>"

# The test server takes AUTH over plain text on loopback, which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def test_smtp_sender_delivers_text_and_html(smtp_server):
    sender = SMTPEmailSender(smtp_server.host, smtp_server.port, sender=SENDER, tls="none")
    sender.send("bob@example.com", "Hello", "Plain body\n", "<p>HTML body</p>")
    mail = smtp_server.wait_for_message(to="bob@example.com")
    assert mail.mail_from == "noreply@example.test"
    assert mail.subject == "Hello"
    assert mail.text == "Plain body\n"
    assert "<p>HTML body</p>" in mail.html
    assert mail.message["Message-ID"].endswith("@example.test>")
    assert mail.message["Auto-Submitted"] == "auto-generated"


def test_smtp_sender_text_only(smtp_server):
    SMTPEmailSender(smtp_server.host, smtp_server.port, sender=SENDER, tls="none").send(
        "bob@example.com", "Hi", "Only text\n"
    )
    mail = smtp_server.wait_for_message()
    assert mail.html is None and mail.text == "Only text\n"


def test_smtp_sender_logs_in_with_credentials(smtp_server_with_auth):
    server = smtp_server_with_auth
    sender = SMTPEmailSender(
        server.host,
        server.port,
        sender=SENDER,
        tls="none",
        username=SMTPTestServer.USERNAME,
        password=SMTPTestServer.PASSWORD,
    )
    sender.send("bob@example.com", "Authenticated", "Body\n")
    assert server.wait_for_message().subject == "Authenticated"
    assert server.handler.logins == [(SMTPTestServer.USERNAME, SMTPTestServer.PASSWORD)]


def test_smtp_sender_raises_on_bad_credentials(smtp_server_with_auth):
    server = smtp_server_with_auth
    sender = SMTPEmailSender(
        server.host, server.port, sender=SENDER, tls="none", username="mailer", password="wrong"
    )
    with pytest.raises(smtplib.SMTPAuthenticationError):
        sender.send("bob@example.com", "Nope", "Body\n")
    assert server.messages == []


def test_smtp_sender_refuses_unknown_tls_modes():
    with pytest.raises(ValueError):
        SMTPEmailSender("localhost", 25, sender=SENDER, tls="maybe")


def test_starttls_is_required_when_asked_for(smtp_server):
    # The test server offers no STARTTLS: a sender configured for it must fail, not send
    # credentials in clear text.
    sender = SMTPEmailSender(smtp_server.host, smtp_server.port, sender=SENDER, tls="starttls")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        sender.send("bob@example.com", "Hi", "Body\n")
    assert smtp_server.messages == []


def test_console_sender_logs_the_message():
    with capture_logs() as logs:
        ConsoleEmailSender(sender=SENDER).send("bob@example.com", "Hi", "Open https://x/\n")
    (entry,) = logs
    assert entry["to"] == "bob@example.com" and entry["subject"] == "Hi"
    assert "https://x/" in entry["body"]


def test_sender_from_settings():
    assert isinstance(sender_from_settings(types.SimpleNamespace()), ConsoleEmailSender)
    smtp = sender_from_settings(
        types.SimpleNamespace(
            email_backend="smtp",
            smtp_host="mail.example",
            smtp_port="2525",
            smtp_tls="ssl",
            smtp_username="u",
            smtp_password="p",
            mail_sender=SENDER,
        )
    )
    assert isinstance(smtp, SMTPEmailSender)
    assert (smtp.host, smtp.port, smtp.tls, smtp.username, smtp.sender) == (
        "mail.example",
        2525,
        "ssl",
        "u",
        SENDER,
    )
    with pytest.raises(ValueError):
        sender_from_settings(types.SimpleNamespace(email_backend="pigeon"))


def test_build_message_headers():
    message = build_message(SENDER, "bob@example.com", "Subject", "text\n", None)
    assert message["From"] == SENDER and message["To"] == "bob@example.com"
    assert message["Date"]


CONTEXT = {
    "site_url": "https://pypi.example",
    "site_name": "Warehouse",
    "username": "<alice>",
    "email": "alice@example.com",
    "link": "https://pypi.example/account/verify-email/?token=a.b.c&x=1",
    "hours": 72,
    "method": "An authenticator app (TOTP)",
    "description": "ci <script>",
    "scope": "all your projects",
}


@pytest.mark.parametrize(
    "name",
    [
        "password-changed",
        "password-reset",
        "token-created",
        "two-factor-added",
        "two-factor-removed",
        "verify-email",
    ],
)
def test_every_message_renders_in_text_and_html(name):
    assert name in template_names()
    rendered = render_email(name, **CONTEXT)
    assert rendered.subject and "\n" not in rendered.subject
    assert "<alice>" in rendered.text  # plain text is not escaped
    assert "&lt;alice&gt;" in rendered.html and "<alice>" not in rendered.html
    assert "https://pypi.example/" in rendered.text


def test_links_survive_in_text_and_are_escaped_in_html():
    rendered = render_email("verify-email", **CONTEXT)
    assert CONTEXT["link"] in rendered.text
    assert "token=a.b.c&amp;x=1" in rendered.html


def test_a_missing_variable_is_an_error_not_a_blank():
    with pytest.raises(Exception, match="username"):
        render_email("password-changed", site_url="x", site_name="y")
