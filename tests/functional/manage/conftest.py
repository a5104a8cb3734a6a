"""The app with the website, the account pages and project management, sending real mail
to an aiosmtpd server (as the accounts tests do)."""

from __future__ import annotations

import pytest
import webtest

from tests.functional.accounts.conftest import PASSWORD, form_for, log_in, text_of
from tests.support import factories, mail
from tests.support.fixtures import basic_auth
from warehouse.config import configure
from warehouse.email.services import SMTPEmailSender

smtp_server_session = mail.smtp_server_session
smtp_server = mail.smtp_server

__all__ = ["PASSWORD", "basic_auth", "form_for", "log_in", "text_of"]


def build_app(settings, engine, redis_client, smtp, **overrides):
    sender = SMTPEmailSender(
        smtp.host, smtp.port, sender="Warehouse <noreply@example.test>", tls="none"
    )
    config = configure(
        settings.replace(**overrides),
        **{"db.engine": engine, "redis.client": redis_client, "email.sender": sender},
    )
    # All idempotent: harmless once warehouse/config.py includes them too.
    config.include("warehouse.accounts")
    config.include("warehouse.web")
    config.include("warehouse.manage")
    return config.make_wsgi_app()


@pytest.fixture
def make_site(settings, clean_database, redis_client, smtp_server):
    def make(**overrides) -> webtest.TestApp:
        app = build_app(settings, clean_database, redis_client, smtp_server, **overrides)
        return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.10"})

    return make


@pytest.fixture
def site(make_site) -> webtest.TestApp:
    return make_site()


@pytest.fixture
def project(db_session, make_user):
    """``demo`` 1.0 and 2.0, owned by alice; bob exists with no role."""
    from warehouse.packaging.models import Role

    alice = make_user("alice")
    make_user("bob")
    project = factories.create_project(db_session, "demo", versions=("1.0", "2.0"))
    db_session.add(Role(user_id=alice.id, project_id=project.id, role_name="Owner"))
    db_session.commit()
    return project


def add_role(db_session, project, username, role_name="Maintainer"):
    import sqlalchemy as sa

    from warehouse.accounts.models import User
    from warehouse.packaging.models import Role

    user = db_session.scalar(sa.select(User).where(User.username == username))
    db_session.add(Role(user_id=user.id, project_id=project.id, role_name=role_name))
    db_session.commit()


@pytest.fixture
def user_token(db_session):
    """Basic-auth headers with a new token of the named user."""
    import sqlalchemy as sa

    from warehouse.accounts.models import User
    from warehouse.tokens.services import DatabaseTokenService

    def make(username: str, **kwargs) -> dict[str, str]:
        user = db_session.scalar(sa.select(User).where(User.username == username))
        _, secret = DatabaseTokenService(db_session).create(user, **kwargs)
        db_session.commit()
        return basic_auth("__token__", secret)

    return make
