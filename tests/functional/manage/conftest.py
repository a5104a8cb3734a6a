"""The app with the website, the account pages and project management, sending real mail
to an aiosmtpd server (as the accounts tests do)."""

from __future__ import annotations

import pytest

# The same site as the accounts tests (configure() includes the manage pages too).
from tests.functional.accounts.conftest import (
    PASSWORD,
    build_app,
    form_for,
    log_in,
    make_site,
    site,
    text_of,
)
from tests.support import factories, mail
from tests.support.fixtures import basic_auth
from warehouse.settings import Settings

smtp_server_session = mail.smtp_server_session
smtp_server = mail.smtp_server

__all__ = [
    "PASSWORD",
    "basic_auth",
    "build_app",
    "form_for",
    "log_in",
    "make_site",
    "site",
    "text_of",
]


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
        _, secret = DatabaseTokenService(db_session, Settings.secret_key).create(user, **kwargs)
        db_session.commit()
        return basic_auth("__token__", secret)

    return make
