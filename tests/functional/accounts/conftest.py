"""The app with the account pages and the website, sending real mail to an aiosmtpd server."""

from __future__ import annotations

import re

import pytest
import webtest

from tests.support import mail
from warehouse.config import configure, wsgi_app
from warehouse.email.services import SMTPEmailSender

# The aiosmtpd fixtures (pytest_plugins may only be set in the root conftest).
smtp_server_session = mail.smtp_server_session
smtp_server = mail.smtp_server

PASSWORD = "correct horse battery"
NEW_PASSWORD = "purple elephant umbrella sandwich"


def build_app(settings, engine, redis_client, smtp, **overrides):
    sender = SMTPEmailSender(
        smtp.host, smtp.port, sender="Warehouse <noreply@example.test>", tls="none"
    )
    config = configure(
        settings.replace(**overrides),
        **{"db.engine": engine, "redis.client": redis_client, "email.sender": sender},
    )
    return wsgi_app(config)


@pytest.fixture
def make_site(settings, clean_database, redis_client, smtp_server):
    def make(**overrides) -> webtest.TestApp:
        app = build_app(settings, clean_database, redis_client, smtp_server, **overrides)
        return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.10"})

    return make


@pytest.fixture
def site(make_site) -> webtest.TestApp:
    return make_site()


def form_for(page, action: str):
    """The form on ``page`` that posts to ``action``."""
    for form in page.forms.values():
        if form.action == action:
            return form
    raise AssertionError(f"no form posting to {action} on {page.request.path}")


def session_cookie(app: webtest.TestApp) -> str | None:
    return app.cookies.get("session_id")


def log_in(app, username="alice", password=PASSWORD, *, next_url=None, status=303):
    page = app.get("/account/login/" + (f"?next={next_url}" if next_url else ""))
    form = form_for(page, "/account/login/")
    form["username"] = username
    form["password"] = password
    return form.submit(status=status)


def text_of(page) -> str:
    """The page's visible text, whitespace collapsed (for assertions on sentences)."""
    body = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page.text)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def link_in(mail) -> str:
    """The first link back to the site in a mail's text part, as a path with query."""
    match = re.search(r"https?://[^\s/]+(/\S+)", mail.text)
    assert match, mail.text
    return match.group(1)
