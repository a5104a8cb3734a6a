"""A real SMTP server (aiosmtpd) on a free port that keeps what it receives in memory.

Tests point the SMTP sender at it and read the messages the application really sent::

    def test_something(smtp_server):
        ...
        message = smtp_server.wait_for_message(to="alice@example.com")
        assert "verify" in message.text
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from devstack.services import free_port


@dataclasses.dataclass
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        # SMTP carries CRLF line endings; tests compare with what was sent.
        return self.message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content().replace("\r\n", "\n") if part is not None else None


class MemoryHandler:
    def __init__(self):
        self.messages: list[ReceivedMail] = []
        self.logins: list[tuple[str, str]] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 Message accepted for delivery"


class SMTPTestServer:
    USERNAME = "mailer"
    PASSWORD = "mailer-password"

    def __init__(self, *, require_auth: bool = False):
        self.handler = MemoryHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.require_auth = require_auth
        self.controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_required=require_auth,
            # Plain-text AUTH over an unencrypted loopback connection is fine in a test.
            auth_require_tls=False,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.handler.logins.append(login)
        # handled=False: let aiosmtpd answer 535 to a failure (True would mean "replied").
        return AuthResult(success=login == (self.USERNAME, self.PASSWORD), handled=False)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        return list(self.handler.messages)

    def clear(self) -> None:
        with self.handler._changed:
            self.handler.messages.clear()
            self.handler.logins.clear()

    def wait_for_message(self, *, to: str | None = None, timeout: float = 5.0) -> ReceivedMail:
        """The newest message (to ``to``), waiting a little for one to arrive."""
        deadline = time.monotonic() + timeout
        with self.handler._changed:
            while True:
                matching = [m for m in self.handler.messages if to is None or to in m.recipients]
                if matching:
                    return matching[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no email to {to or 'anyone'} within {timeout}s")
                self.handler._changed.wait(remaining)


@pytest.fixture(scope="session")
def smtp_server_session():
    server = SMTPTestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_server_session) -> SMTPTestServer:
    smtp_server_session.clear()
    yield smtp_server_session
    smtp_server_session.clear()


@pytest.fixture
def smtp_server_with_auth():
    server = SMTPTestServer(require_auth=True)
    server.start()
    yield server
    server.stop()
