"""Registering: the rules for usernames and passwords, and the email verification link."""

from __future__ import annotations

import sqlalchemy as sa

from tests.functional.accounts.conftest import NEW_PASSWORD, form_for, link_in, text_of
from warehouse.accounts.models import Email, ProhibitedUserName, User
from warehouse.accounts.notifications import email_verification_signer
from warehouse.events.models import Event


def register(site, *, status=303, **fields):
    page = site.get("/account/register/")
    form = form_for(page, "/account/register/")
    values = {
        "username": "newbie",
        "full_name": "New Bie",
        "email": "newbie@example.com",
        "new_password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    values.update(fields)
    for name, value in values.items():
        form[name] = value
    return form.submit(status=status)


def field_error(page, field: str) -> str:
    marker = f'id="{field}-error">'
    assert marker in page.text, f"no error for {field}"
    return page.text.split(marker, 1)[1].split("</p>", 1)[0]


def test_register_verify_email_by_the_link_in_the_mail(site, smtp_server, db_session):
    response = register(site)
    assert response.headers["Location"].endswith("/manage/account/")
    page = response.follow()
    assert "We sent a link to newbie@example.com" in text_of(page)  # and we are logged in

    db_session.rollback()
    user = db_session.scalar(sa.select(User).where(User.username == "newbie"))
    assert user.name == "New Bie" and user.password.startswith("$argon2id$")
    assert [(e.email, e.primary, e.verified) for e in user.emails] == [
        ("newbie@example.com", True, False)
    ]

    mail = smtp_server.wait_for_message(to="newbie@example.com")
    assert mail.subject == "Verify your email address for Warehouse"
    assert mail.html and "Verify newbie@example.com" in mail.html
    link = link_in(mail)
    assert link.startswith("/account/verify-email/?token=")

    # The link works without a session: people open it on their phone.
    site.reset()
    result = site.get(link)
    assert "newbie@example.com is verified" in text_of(result)
    db_session.rollback()
    assert db_session.scalar(sa.select(Email.verified)) is True
    tags = db_session.scalars(sa.select(Event.tag).order_by(Event.id)).all()
    assert tags == ["account:create", "account:login:success", "account:email:verified"]


def test_verification_link_that_was_tampered_with_or_expired(site, make_user, settings):
    make_user("bob", email_verified=False)
    page = site.get("/account/verify-email/?token=abc.def.ghi")
    assert "This link is not valid" in text_of(page)
    signer = email_verification_signer(settings.secret_key)
    old = signer.sign({"email_id": 1, "email": "bob@example.com"}, now=1_000_000)
    assert "This link has expired" in text_of(site.get(f"/account/verify-email/?token={old}"))


def test_verification_link_for_a_removed_address_does_nothing(
    site, make_user, db_session, settings
):
    user = make_user("bob", email_verified=False)
    token = email_verification_signer(settings.secret_key).sign(
        {"email_id": user.emails[0].id + 1, "email": "bob@example.com"}
    )
    assert "no longer on any account" in text_of(site.get(f"/account/verify-email/?token={token}"))
    db_session.rollback()
    assert db_session.scalar(sa.select(Email.verified)) is False


def test_invalid_usernames(site):
    for name, expected in [
        ("-dash", "must be 1 to 50 letters"),
        ("x" * 51, "must be 1 to 50 letters"),
        ("with space", "must be 1 to 50 letters"),
        ("__token__", "must be 1 to 50 letters"),
        ("admin", "is not available"),
        ("Admin", "is not available"),
    ]:
        page = register(site, username=name, status=200)
        assert expected in field_error(page, "username"), name


def test_username_taken_case_insensitively(site, make_user):
    make_user("alice")
    page = register(site, username="ALICE", status=200)
    assert "already taken" in field_error(page, "username")


def test_deleted_accounts_names_cannot_be_registered(site, db_session):
    db_session.add(ProhibitedUserName(name="oldtimer", comment="deleted account"))
    db_session.commit()
    page = register(site, username="OldTimer", status=200)
    assert "is not available" in field_error(page, "username")


def test_weak_passwords_are_refused(site):
    page = register(site, new_password="password", password_confirm="password", status=200)
    assert "too easy to guess" in field_error(page, "new_password")
    page = register(site, new_password="short", password_confirm="short", status=200)
    assert "at least 8 characters" in field_error(page, "new_password")
    name = "zebracrossing42x"
    page = register(site, username=name, new_password=name, password_confirm=name, status=200)
    assert "cannot be your username" in field_error(page, "new_password")


def test_passwords_must_match(site):
    page = register(site, password_confirm=NEW_PASSWORD + "!", status=200)
    assert "not the same" in field_error(page, "password_confirm")


def test_passwords_are_not_echoed_back(site):
    page = register(site, username="admin", status=200)
    assert NEW_PASSWORD not in page.text
    assert 'value="newbie@example.com"' in page.text  # other fields are kept


def test_email_must_be_valid_and_unused(site, make_user):
    make_user("alice")
    page = register(site, email="not-an-address", status=200)
    assert "valid email address" in field_error(page, "email")
    page = register(site, email="ALICE@example.com", status=200)
    assert "already in use" in field_error(page, "email")


def test_register_needs_csrf(site):
    site.get("/account/register/")
    site.post(
        "/account/register/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "new_password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
        status=400,
    )


def test_registrations_per_address_are_limited(make_site):
    from warehouse.settings import RateLimit

    site = make_site(login_ratelimit=RateLimit(2, 3600))
    register(site, username="first", email="first@example.com")
    site.reset()
    register(site, username="second", email="second@example.com")
    site.reset()
    page = register(site, username="third", email="third@example.com", status=429)
    assert "Too many accounts have been created from your network" in text_of(page)
