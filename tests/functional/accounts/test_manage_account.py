"""``/manage/account/``: re-authentication, email addresses, password, deleting the account."""

from __future__ import annotations

import sqlalchemy as sa

from tests.functional.accounts.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    form_for,
    link_in,
    log_in,
    text_of,
)
from tests.support.factories import create_project
from warehouse.accounts import authentication
from warehouse.accounts.models import Email, ProhibitedUserName, User
from warehouse.events.models import Event
from warehouse.packaging.models import JournalEntry, Project, Role


def emails(db_session) -> list[tuple[str, bool, bool]]:
    db_session.rollback()
    return [
        (e.email, e.primary, e.verified)
        for e in db_session.scalars(sa.select(Email).order_by(Email.id))
    ]


def email_id(db_session, address: str) -> int:
    db_session.rollback()
    return db_session.scalar(sa.select(Email.id).where(Email.email == address))


def post_account_form(site, action: str, *, email_id=None, status=303, **fields):
    page = site.get("/manage/account/")
    forms = [f for f in page.forms.values() if f.action == action]
    if email_id is not None:
        forms = [f for f in forms if f.get("email_id").value == str(email_id)]
    assert forms, f"no form for {action}"
    form = forms[0]
    for name, value in fields.items():
        form[name] = value
    return form.submit(status=status)


# Re-authentication ------------------------------------------------------------------------


def test_sensitive_pages_ask_for_the_password_again_after_a_while(site, user, monkeypatch):
    log_in(site)
    monkeypatch.setattr(authentication, "REAUTH_SECONDS", 0)
    response = site.get("/manage/account/token/", status=303)
    assert response.headers["Location"] == (
        "http://localhost/account/reauthenticate/?next=%2Fmanage%2Faccount%2Ftoken%2F"
    )
    page = response.follow()
    assert "Confirm your password" in text_of(page)
    form = form_for(page, "/account/reauthenticate/")
    form["password"] = "wrong password"
    assert "not right" in text_of(form.submit(status=200))

    monkeypatch.setattr(authentication, "REAUTH_SECONDS", 600)
    form = form_for(site.get(response.headers["Location"]), "/account/reauthenticate/")
    form["password"] = PASSWORD
    before = site.cookies["session_id"]
    back = form.submit(status=303)
    assert site.cookies["session_id"] != before  # more power, new session id
    assert back.headers["Location"].endswith("/manage/account/token/")
    assert back.follow().status_int == 200


def test_a_stale_post_is_not_carried_out(site, user, monkeypatch, db_session):
    log_in(site)
    monkeypatch.setattr(authentication, "REAUTH_SECONDS", 0)
    response = post_account_form(site, "/manage/account/email/add/", email="new@example.com")
    assert "/account/reauthenticate/?next=%2Fmanage%2Faccount%2F" in response.headers["Location"]
    assert "submit the form again" in text_of(response.follow())
    assert [e[0] for e in emails(db_session)] == ["alice@example.com"]


def test_reauthentication_needs_a_login(site):
    assert "/account/login/" in site.get("/account/reauthenticate/", status=303).headers["Location"]


# Email addresses ---------------------------------------------------------------------------


def test_add_verify_make_primary_and_remove_an_address(site, user, smtp_server, db_session):
    log_in(site)
    response = post_account_form(site, "/manage/account/email/add/", email="second@example.com")
    assert "We sent a link to second@example.com" in text_of(response.follow())
    assert emails(db_session) == [
        ("alice@example.com", True, True),
        ("second@example.com", False, False),
    ]
    second = email_id(db_session, "second@example.com")

    # Not verified yet: it cannot become primary.
    page = site.get("/manage/account/")
    assert not [
        f
        for f in page.forms.values()
        if f.action == "/manage/account/email/primary/" and f.get("email_id").value == str(second)
    ]
    site.get(link_in(smtp_server.wait_for_message(to="second@example.com")))
    assert emails(db_session)[1] == ("second@example.com", False, True)

    post_account_form(site, "/manage/account/email/primary/", email_id=second)
    assert emails(db_session) == [
        ("alice@example.com", False, True),
        ("second@example.com", True, True),
    ]
    first = email_id(db_session, "alice@example.com")
    post_account_form(site, "/manage/account/email/remove/", email_id=first)
    assert emails(db_session) == [("second@example.com", True, True)]

    tags = db_session.scalars(sa.select(Event.tag).order_by(Event.id)).all()
    for tag in (
        "account:email:add",
        "account:email:verified",
        "account:email:primary:change",
        "account:email:remove",
    ):
        assert tag in tags


def test_resend_verification(site, make_user, smtp_server, db_session):
    make_user("bob", email_verified=False)
    log_in(site, "bob")
    post_account_form(
        site, "/manage/account/email/resend/", email_id=email_id(db_session, "bob@example.com")
    )
    assert smtp_server.wait_for_message(to="bob@example.com").subject.startswith("Verify")


def test_address_rules(site, user, make_user, db_session):
    make_user("bob")
    log_in(site)
    page = post_account_form(
        site, "/manage/account/email/add/", email="BOB@example.com", status=200
    )
    assert "already in use" in text_of(page)
    page = post_account_form(site, "/manage/account/email/add/", email="nope", status=200)
    assert "not a valid email address" in text_of(page)


def test_the_primary_address_cannot_be_removed(site, user, db_session):
    log_in(site)
    primary = email_id(db_session, "alice@example.com")
    page = site.get("/manage/account/")
    assert not [
        f
        for f in page.forms.values()
        if f.action == "/manage/account/email/remove/" and f.get("email_id").value == str(primary)
    ]
    # Posting it anyway is refused.
    token = form_for(page, "/manage/account/email/add/")["csrf_token"].value
    response = site.post(
        "/manage/account/email/remove/", {"email_id": primary, "csrf_token": token}, status=200
    )
    assert "cannot remove your primary address" in text_of(response)


def test_someone_elses_address_cannot_be_touched(site, user, make_user, db_session):
    make_user("bob")
    log_in(site)
    token = form_for(site.get("/manage/account/"), "/manage/account/email/add/")["csrf_token"].value
    bobs = email_id(db_session, "bob@example.com")
    response = site.post(
        "/manage/account/email/remove/", {"email_id": bobs, "csrf_token": token}, status=200
    )
    assert "not on your account" in text_of(response)
    assert len(emails(db_session)) == 2


# Password -----------------------------------------------------------------------------------


def test_change_password_logs_out_other_sessions(make_site, user, smtp_server, db_session):
    site, elsewhere = make_site(), make_site()
    log_in(site)
    log_in(elsewhere)
    page = post_account_form(
        site,
        "/manage/account/password/",
        status=200,
        password="wrong",
        new_password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert "current password is not right" in text_of(page)

    before = site.cookies["session_id"]
    response = post_account_form(
        site,
        "/manage/account/password/",
        password=PASSWORD,
        new_password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert "Your password has been changed" in text_of(response.follow())
    assert site.cookies["session_id"] != before  # a privilege change rotates the session
    assert site.get("/manage/account/").status_int == 200
    assert elsewhere.get("/manage/account/", status=303)
    mail = smtp_server.wait_for_message(to="alice@example.com")
    assert mail.subject == "Your Warehouse password has changed"
    db_session.rollback()
    assert "account:password:change" in db_session.scalars(sa.select(Event.tag)).all()


def test_new_password_must_be_strong(site, user):
    log_in(site)
    page = post_account_form(
        site,
        "/manage/account/password/",
        status=200,
        password=PASSWORD,
        new_password="alice",
        password_confirm="alice",
    )
    assert "at least 8 characters" in text_of(page)


# Deleting the account ------------------------------------------------------------------------


def test_delete_account(site, user, db_session):
    log_in(site)
    page = post_account_form(site, "/manage/account/delete/", confirm_username="ALICE", status=200)
    assert "Type your username exactly" in text_of(page)
    response = post_account_form(site, "/manage/account/delete/", confirm_username="alice")
    assert response.headers["Location"] == "http://localhost/"
    db_session.rollback()
    assert db_session.scalar(sa.select(User)) is None
    assert db_session.scalar(sa.select(ProhibitedUserName.name)) == "alice"
    event = db_session.scalar(sa.select(Event).where(Event.tag == "account:delete"))
    assert event.source_id == str(user.id) and event.additional == {"username": "alice"}
    assert site.get("/manage/account/", status=303)
    log_in(site, status=200)


def test_the_only_owner_of_a_project_cannot_delete_the_account(site, user, db_session):
    project = create_project(db_session, "solo")
    db_session.add(Role(user_id=user.id, project_id=project.id, role_name="Owner"))
    db_session.commit()
    log_in(site)
    page = site.get("/manage/account/")
    assert "You are the only owner of solo" in text_of(page)
    assert "/manage/account/delete/" not in [f.action for f in page.forms.values()]


def test_deleting_leaves_shared_projects_with_a_journal_entry(site, user, make_user, db_session):
    bob = make_user("bob")
    project = create_project(db_session, "shared")
    db_session.add_all(
        [
            Role(user_id=bob.id, project_id=project.id, role_name="Owner"),
            Role(user_id=user.id, project_id=project.id, role_name="Maintainer"),
        ]
    )
    db_session.commit()
    log_in(site)
    post_account_form(site, "/manage/account/delete/", confirm_username="alice")
    db_session.rollback()
    assert db_session.scalars(sa.select(Role.role_name)).all() == ["Owner"]
    entry = db_session.scalar(sa.select(JournalEntry).order_by(JournalEntry.id.desc()))
    assert (entry.name, entry.action, entry.submitted_by) == (
        "shared",
        "remove Maintainer alice",
        "alice",
    )
    assert db_session.scalar(sa.select(Project.last_serial)) == entry.id


def test_account_page_shows_the_security_history(site, user):
    log_in(site, password="typo password", status=200)
    log_in(site)
    text = text_of(site.get("/manage/account/"))
    assert "Security history" in text
    assert "Failed login" in text and "Logged in" in text and "192.0.2.10" in text
