"""``/manage/account/token/``: tokens made on the website upload through ``/legacy/``."""

from __future__ import annotations

import datetime
import re

import sqlalchemy as sa

from tests.functional.accounts.conftest import form_for, log_in, text_of
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist
from tests.support.factories import create_project
from tests.support.fixtures import basic_auth
from warehouse.db import utcnow
from warehouse.events.models import Event
from warehouse.packaging.models import Role
from warehouse.tokens.models import APIToken
from warehouse.web.rendering import format_date

TOKEN_PAGE = "/manage/account/token/"


def create_token(site, *, status=200, projects=(), **fields):
    page = site.get(TOKEN_PAGE)
    form = form_for(page, TOKEN_PAGE)
    form["description"] = "ci"
    for name, value in fields.items():
        form[name] = value
    for checkbox in form.fields.get("projects", []):
        checkbox.checked = checkbox._value in projects
    return form.submit(status=status)


def shown_token(page) -> str:
    return re.search(r'id="new-token" type="text" readonly value="(pypi-[^"]+)"', page.text).group(
        1
    )


def test_token_page_lists_nothing_at_first(site, user):
    log_in(site)
    page = site.get(TOKEN_PAGE)
    assert "You have no API tokens." in text_of(page)


def test_created_token_is_shown_once_and_uploads(site, user, smtp_server, tmp_path, db_session):
    log_in(site)
    page = create_token(site)
    token = shown_token(page)
    assert "no-store" in page.headers["Cache-Control"]
    assert "Copy it now: it is not shown again." in text_of(page)
    listing = site.get(TOKEN_PAGE)
    assert token not in listing.text
    assert "ci" in text_of(listing) and "All projects" in text_of(listing)
    mail = smtp_server.wait_for_message(to="alice@example.com")
    assert mail.subject == "A new API token for your Warehouse account"
    assert token not in mail.text

    post_upload(site, make_sdist(tmp_path, "webpkg", "1.0"), basic_auth("__token__", token))
    # The list shows when it was created and last used; it never expires.
    today = format_date(utcnow())
    assert f"All projects upload, manage {today} {today} Never Revoke" in text_of(
        site.get(TOKEN_PAGE)
    )
    db_session.rollback()
    assert db_session.scalar(sa.select(APIToken.last_used)) is not None
    event = db_session.scalar(sa.select(Event).where(Event.tag == "account:api_token:added"))
    assert event.additional["description"] == "ci" and event.additional["projects"] is None


def test_revoked_token_stops_working(site, user, tmp_path, db_session):
    log_in(site)
    token = shown_token(create_token(site))
    page = site.get(TOKEN_PAGE)
    response = form_for(page, "/manage/account/token/revoke/").submit(status=303)
    assert "has been revoked" in text_of(response.follow())
    sdist = make_sdist(tmp_path, "webpkg", "1.0")
    response = post_upload(site, sdist, basic_auth("__token__", token), status=403)
    assert "Invalid or non-existent authentication information" in response.text
    db_session.rollback()
    assert db_session.scalar(sa.select(APIToken)) is None
    assert "account:api_token:removed" in db_session.scalars(sa.select(Event.tag)).all()


def test_project_scoped_token(site, user, tmp_path, db_session):
    for name in ("first", "second"):
        project = create_project(db_session, name)
        db_session.add(Role(user_id=user.id, project_id=project.id, role_name="Owner"))
    db_session.commit()
    log_in(site)
    page = create_token(site, scope="projects", projects=("second",))
    token = shown_token(page)
    db_session.rollback()
    assert db_session.scalar(sa.select(APIToken.projects)) == ["second"]
    auth = basic_auth("__token__", token)
    post_upload(site, make_sdist(tmp_path, "second", "9.0"), auth)
    post_upload(site, make_sdist(tmp_path, "first", "9.0"), auth, status=403)
    post_upload(site, make_sdist(tmp_path, "brandnew", "1.0"), auth, status=403)


def test_projects_scope_needs_a_project_of_mine(site, user, db_session):
    project = create_project(db_session, "mine")
    db_session.add(Role(user_id=user.id, project_id=project.id, role_name="Owner"))
    create_project(db_session, "theirs")
    db_session.commit()
    log_in(site)
    page = create_token(site, scope="projects")
    assert "Choose at least one project." in text_of(page)
    # A crafted post naming someone else's project is refused.
    token = form_for(site.get(TOKEN_PAGE), TOKEN_PAGE)["csrf_token"].value
    response = site.post(
        TOKEN_PAGE,
        {
            "csrf_token": token,
            "description": "x",
            "scope": "projects",
            "projects": "theirs",
            "expires_in_days": "",
        },
        status=200,
    )
    assert "only choose projects you maintain" in text_of(response)
    db_session.rollback()
    assert db_session.scalar(sa.select(APIToken)) is None


def test_expiry(site, user, db_session):
    log_in(site)
    create_token(site, expires_in_days="30")
    db_session.rollback()
    expires = db_session.scalar(sa.select(APIToken.expires))
    assert abs(expires - (utcnow() + datetime.timedelta(days=30))) < datetime.timedelta(minutes=1)
    assert "No expiry" in site.get(TOKEN_PAGE).text


def test_a_name_is_required(site, user):
    log_in(site)
    page = create_token(site, description="")
    assert "Name the token" in text_of(page)


def test_page_warns_when_the_account_cannot_upload_yet(make_site, make_user):
    site = make_site(require_2fa=True)
    make_user("bob", email_verified=False)
    log_in(site, "bob")
    text = text_of(site.get(TOKEN_PAGE))
    assert "verify an email address and turn on two-factor authentication" in text


def test_tokens_of_others_cannot_be_revoked(site, user, make_user, make_token, db_session):
    bob = make_user("bob")
    make_token(bob)
    log_in(site)
    csrf = form_for(site.get(TOKEN_PAGE), TOKEN_PAGE)["csrf_token"].value
    bobs_token = db_session.scalar(sa.select(APIToken.id))
    response = site.post(
        "/manage/account/token/revoke/", {"token_id": str(bobs_token), "csrf_token": csrf}
    )
    assert "does not exist" in text_of(response.follow())
    db_session.rollback()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(APIToken)) == 1
