"""The SES webhook: SNS signatures, subscription confirmation, bounces and complaints."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
import sqlalchemy as sa
import webtest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from warehouse.accounts.models import Email
from warehouse.config import configure, wsgi_app
from warehouse.email import sns
from warehouse.events import events_for

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"


@pytest.fixture(scope="module")
def signing_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def signed(key, message: dict, version: str = "2") -> dict:
    message = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **message}
    algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303
    signature = key.sign(sns.string_to_sign(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def notification(key, event: dict) -> dict:
    return signed(
        key,
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123:ses",
            "Message": json.dumps(event),
            "Timestamp": "2026-01-01T00:00:00.000Z",
        },
    )


def bounce(address: str, kind: str) -> dict:
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": kind, "bouncedRecipients": [{"emailAddress": address}]},
    }


@pytest.fixture
def fetched():
    return []


@pytest.fixture
def app(settings, clean_database, redis_client, signing_key, fetched):
    _, pem = signing_key

    def fetch(url):
        fetched.append(url)
        return pem

    config = configure(
        settings,
        **{
            "db.engine": clean_database,
            "redis.client": redis_client,
            "ses.cert_fetcher": fetch,
            "ses.http_get": fetched.append,
        },
    )
    return webtest.TestApp(wsgi_app(config))


def post(app, message, status=200):
    return app.post("/_ses-webhook/", json.dumps(message), status=status)


def email_row(db_session, address) -> Email:
    db_session.expire_all()
    return db_session.scalar(sa.select(Email).where(Email.email == address))


def test_subscription_is_confirmed(app, signing_key, fetched):
    key, _ = signing_key
    url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    message = signed(
        key,
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "m-0",
            "Token": "t",
            "TopicArn": "arn:aws:sns:us-east-1:123:ses",
            "Message": "confirm",
            "SubscribeURL": url,
            "Timestamp": "2026-01-01T00:00:00.000Z",
        },
        version="1",
    )
    post(app, message)
    assert fetched == [CERT_URL, url]


def test_forged_and_foreign_messages_are_rejected(app, signing_key, user, fetched):
    key, _ = signing_key
    good = notification(key, bounce(user.emails[0].email, "Permanent"))
    post(app, {**good, "Message": good["Message"].replace("Permanent", "Transient")}, 400)
    post(app, {**good, "SigningCertURL": "https://evil.example.com/cert.pem"}, 400)
    post(app, {**good, "SigningCertURL": CERT_URL.replace("https", "http")}, 400)
    post(app, {**good, "SignatureVersion": "3"}, 400)
    app.post("/_ses-webhook/", "not json", status=400)
    assert "evil.example.com" not in " ".join(fetched)


def test_permanent_bounce_unverifies_and_records(app, signing_key, user, db_session):
    key, _ = signing_key
    address = user.emails[0].email
    post(app, notification(key, bounce(address, "Permanent")))
    assert email_row(db_session, address).verified is False
    tags = [e.tag for e in events_for(db_session, "user", user.id)]
    assert sns.EmailTag.BOUNCE_PERMANENT in tags and sns.EmailTag.UNVERIFIED in tags


def test_complaint_unverifies(app, signing_key, user, db_session):
    key, _ = signing_key
    address = user.emails[0].email
    event = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": address.upper()}]},
    }
    post(app, notification(key, event))
    assert email_row(db_session, address).verified is False


def test_repeated_transient_bounces_unverify(app, signing_key, user, db_session):
    key, _ = signing_key
    address = user.emails[0].email
    for _ in range(sns.TRANSIENT_LIMIT - 1):
        post(app, notification(key, bounce(address, "Transient")))
    assert email_row(db_session, address).verified is True
    post(app, notification(key, bounce(address, "Transient")))
    assert email_row(db_session, address).verified is False


def test_unknown_addresses_are_ignored(app, signing_key):
    key, _ = signing_key
    post(app, notification(key, bounce("nobody@example.com", "Permanent")))
