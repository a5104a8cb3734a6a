"""Password reset: it must not reveal who has an account, and each link works once."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.functional.accounts.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    form_for,
    link_in,
    log_in,
    text_of,
)
from warehouse.accounts.notifications import password_reset_signer
from warehouse.accounts.passwords import password_fingerprint
from warehouse.events.models import Event


def request_reset(site, login: str):
    page = site.get("/account/request-password-reset/")
    form = form_for(page, "/account/request-password-reset/")
    form["username_or_email"] = login
    return form.submit(status=200)


def notice(page) -> str:
    return re.sub(
        r"<strong>.*?</strong>",
        "<strong/>",
        page.text.split('role="status">', 1)[1].split("</div>", 1)[0],
    )


def choose_password(site, link: str, password: str = NEW_PASSWORD, *, status=303):
    page = site.get(link)
    form = form_for(page, "/account/reset-password/")
    form["new_password"] = form["password_confirm"] = password
    return form.submit(status=status)


def test_the_answer_is_the_same_whether_or_not_the_account_exists(site, user, smtp_server):
    known = request_reset(site, "alice")
    unknown = request_reset(site, "nobody-here")
    known_email = request_reset(site, "alice@example.com")
    unknown_email = request_reset(site, "nobody@example.com")
    assert known.status_int == unknown.status_int == 200
    assert notice(known) == notice(unknown) == notice(known_email) == notice(unknown_email)
    recipients = [m.recipients for m in smtp_server.messages]
    assert recipients == [["alice@example.com"], ["alice@example.com"]]


def test_reset_link_works_once(site, user, smtp_server, db_session):
    request_reset(site, "alice")
    mail = smtp_server.wait_for_message(to="alice@example.com")
    assert mail.subject == "Reset your Warehouse password"
    link = link_in(mail)
    assert link.startswith("/account/reset-password/?token=")

    response = choose_password(site, link)
    assert response.headers["Location"].endswith("/account/login/")
    assert "Your password has been changed" in text_of(response.follow())
    changed = smtp_server.wait_for_message(to="alice@example.com")
    assert changed.subject == "Your Warehouse password has changed"

    log_in(site, password=PASSWORD, status=200)
    log_in(site, password=NEW_PASSWORD)

    site.reset()
    again = site.get(link, status=400)
    assert "already been used" in text_of(again)
    db_session.rollback()
    tags = set(db_session.scalars(sa.select(Event.tag)))
    assert {"account:password:reset:request", "account:password:reset"} <= tags


def test_a_posted_form_with_a_used_token_is_refused(site, user, smtp_server):
    request_reset(site, "alice")
    link = link_in(smtp_server.wait_for_message(to="alice@example.com"))
    page = site.get(link)
    form = form_for(page, "/account/reset-password/")
    form["new_password"] = form["password_confirm"] = NEW_PASSWORD
    choose_password(site, link, "another entirely new passphrase")
    form.submit(status=400)
    log_in(site, password="another entirely new passphrase")


def test_reset_link_dies_when_the_password_changes_otherwise(site, user, smtp_server, db_session):
    request_reset(site, "alice")
    link = link_in(smtp_server.wait_for_message(to="alice@example.com"))
    from warehouse.accounts.services import DatabaseUserService

    DatabaseUserService(db_session).set_password(db_session.merge(user), "changed meanwhile ok")
    db_session.commit()
    assert "already been used" in text_of(site.get(link, status=400))


def test_expired_and_forged_links(site, user, settings):
    old = password_reset_signer(settings.secret_key).sign(
        {
            "user_id": str(user.id),
            "password": password_fingerprint(settings.secret_key, user.password),
        },
        now=1_000_000,
    )
    assert "has expired" in text_of(site.get(f"/account/reset-password/?token={old}", status=400))
    forged = password_reset_signer("someone else's key").sign(
        {"user_id": str(user.id), "password": "x"}
    )
    assert "not valid" in text_of(site.get(f"/account/reset-password/?token={forged}", status=400))


def test_weak_new_password_is_refused(site, user, smtp_server):
    request_reset(site, "alice")
    link = link_in(smtp_server.wait_for_message(to="alice@example.com"))
    page = choose_password(site, link, "password", status=200)
    assert "too easy to guess" in text_of(page)
    choose_password(site, link)  # the link still works after a rejected attempt


def test_unverified_addresses_get_no_reset_link(site, make_user, smtp_server):
    make_user("bob", email_verified=False)
    page = request_reset(site, "bob")
    assert "If bob belongs to an account" in text_of(page)
    assert smtp_server.messages == []
