"""The SES sender and the mail task, against moto's SES (read back in-process)."""

from __future__ import annotations

import email
import email.policy

import boto3
import pytest

from devstack.services import free_port
from tests.support.celery_worker import celery_app_for
from warehouse import tasks
from warehouse.email import tasks as email_tasks
from warehouse.email.interfaces import IEmailSender
from warehouse.email.ses import SESEmailSender

SENDER = "Warehouse <noreply@example.org>"


@pytest.fixture(scope="module")
def moto_ses():
    # In-process, so that the sent mail can be read from moto's backend (its data.json
    # endpoint breaks when S3 objects exist on the same server).
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "ses",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.verify_email_identity(EmailAddress="noreply@example.org")
    yield url
    server.stop()


def sent_messages():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


@pytest.fixture
def ses_settings(settings, moto_ses, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sent_messages().clear()
    return settings.replace(email_backend="ses", ses_endpoint_url=moto_ses, mail_sender=SENDER)


def parse(raw) -> email.message.EmailMessage:
    data = raw.raw_data if isinstance(raw.raw_data, bytes) else raw.raw_data.encode()
    return email.message_from_bytes(data, policy=email.policy.default)


def test_sends_multipart_text_and_html(ses_settings):
    sender = email_tasks.sender_from_settings(ses_settings)
    assert isinstance(sender, SESEmailSender) and IEmailSender.providedBy(sender)
    sender.send("bob@example.com", "Hello", "plain body", "<p>html body</p>")
    (raw,) = sent_messages()
    assert set(raw.destinations) == {"bob@example.com"}  # moto lists it per header too
    message = parse(raw)
    assert message["Subject"] == "Hello" and message["To"] == "bob@example.com"
    assert message.get_body(("plain",)).get_content().strip() == "plain body"
    assert message.get_body(("html",)).get_content().strip() == "<p>html body</p>"


def test_the_task_sends_only_after_the_commit(ses_settings, clean_database, redis_client):
    ctx = tasks.TaskContext.from_settings(ses_settings)
    tasks.set_context(ctx)
    try:
        with celery_app_for(ses_settings, task_always_eager=True):
            with pytest.raises(RuntimeError), ctx.session():
                email_tasks.send_email.delay("never@example.com", "No", "rolled back")
                raise RuntimeError("roll back")
            assert sent_messages() == []
            with ctx.session():
                email_tasks.send_email.delay("carol@example.com", "Yes", "committed", None)
                assert sent_messages() == []  # not before the commit
            (raw,) = sent_messages()
            assert parse(raw)["Subject"] == "Yes"
    finally:
        tasks.set_context(None)
        ctx.engine.dispose()


def test_other_backends_come_from_the_basic_senders(settings):
    from warehouse.email.services import ConsoleEmailSender, SMTPEmailSender

    assert isinstance(email_tasks.sender_from_settings(settings), ConsoleEmailSender)
    smtp = email_tasks.sender_from_settings(
        settings.replace(email_backend="smtp", smtp_host="mail", smtp_port=1025, smtp_tls="none")
    )
    assert isinstance(smtp, SMTPEmailSender) and (smtp.host, smtp.port) == ("mail", 1025)


def test_mail_from_a_request_goes_through_the_worker_after_the_commit(
    ses_settings, clean_database, redis_client
):
    """With email_via_worker on, a request hands the mail to the task, sent after commit."""
    import webtest
    from pyramid.response import Response

    from warehouse.config import configure, wsgi_app
    from warehouse.email import send_email

    app_settings = ses_settings.replace(email_via_worker=True)
    config = configure(app_settings, **{"db.engine": clean_database, "redis.client": redis_client})

    def view(request):
        send_email(request, "password-changed", "dora@example.com", username="dora")
        assert sent_messages() == []  # nothing leaves before the commit
        if request.params.get("fail"):
            raise RuntimeError("roll back")
        return Response("ok")

    config.add_route("test-mail", "/test-mail")
    config.add_view(view, route_name="test-mail")
    app = webtest.TestApp(wsgi_app(config))
    with celery_app_for(app_settings, task_always_eager=True):
        app.get("/test-mail?fail=1", status=500)
        assert sent_messages() == []
        app.get("/test-mail")
    (raw,) = sent_messages()
    message = parse(raw)
    assert message["To"] == "dora@example.com"
    assert "password has changed" in message["Subject"]
