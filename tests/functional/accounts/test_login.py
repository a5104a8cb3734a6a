"""Logging in and out, the login rate limits, and the pages that need a login."""

from __future__ import annotations

import sqlalchemy as sa

from tests.functional.accounts.conftest import PASSWORD, form_for, log_in, text_of
from warehouse.events.models import Event
from warehouse.settings import RateLimit


def test_login_page_has_a_labelled_form_with_a_csrf_field(site):
    page = site.get("/account/login/")
    form = form_for(page, "/account/login/")
    assert form.method.lower() == "post"
    assert form["csrf_token"].value
    assert '<label for="username">' in page.text and '<label for="password">' in page.text


def test_login_with_the_right_password_goes_to_the_account_page(site, user):
    response = log_in(site)
    assert response.headers["Location"].endswith("/manage/account/")
    page = response.follow()
    assert "You are logged in as" in text_of(page) and "alice" in page.text


def test_login_with_an_email_address(site, user):
    log_in(site, "alice@example.com").follow()
    assert site.get("/manage/account/").status_int == 200


def test_login_goes_to_next_but_never_off_site(site, user):
    assert (
        log_in(site, next_url="/manage/account/token/")
        .headers["Location"]
        .endswith("/manage/account/token/")
    )
    site.reset()
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        location = log_in(site, next_url=hostile).headers["Location"]
        assert "evil" not in location
        site.reset()


def test_wrong_password_is_refused_and_recorded(site, user, db_session):
    response = log_in(site, password="not the password", status=200)
    assert "The username or password is not right." in text_of(response)
    assert (
        site.get("/manage/account/", status=303)
        .headers["Location"]
        .startswith("http://localhost/account/login/")
    )
    db_session.rollback()
    event = db_session.scalar(sa.select(Event).where(Event.tag == "account:login:failure"))
    assert event.source_id == str(user.id) and event.additional == {"reason": "password"}
    assert event.ip == "192.0.2.10"


def test_unknown_user_gets_the_same_message(site):
    response = log_in(site, "nobody", status=200)
    assert "The username or password is not right." in text_of(response)


def test_successful_login_is_recorded(site, user, db_session):
    log_in(site)
    db_session.rollback()
    event = db_session.scalar(sa.select(Event).where(Event.tag == "account:login:success"))
    assert event.actor == "alice" and event.additional == {"method": "password"}


def test_login_rate_limit_per_user(make_site, user):
    site = make_site(login_ratelimit=RateLimit(3, 3600))
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        site.extra_environ["REMOTE_ADDR"] = address
        log_in(site, password="wrong password", status=200)
    # From a fresh address and with the right password: the account is still locked.
    site.extra_environ["REMOTE_ADDR"] = "192.0.2.99"
    response = log_in(site, status=429)
    assert "too many unsuccessful login attempts" in text_of(response)
    assert "Try again in" in text_of(response)


def test_login_rate_limit_per_ip(make_site, make_user):
    site = make_site(login_ratelimit=RateLimit(3, 3600))
    make_user("bob")
    for name in ("nobody", "someone", "anyone"):
        log_in(site, name, status=200)
    response = log_in(site, "bob", status=429)
    assert "too many unsuccessful login attempts" in text_of(response)
    site.extra_environ["REMOTE_ADDR"] = "198.51.100.7"
    log_in(site, "bob")


def test_logout_needs_a_post(site, user):
    log_in(site)
    page = site.get("/account/logout/")
    assert site.get("/manage/account/").status_int == 200  # the GET only asked
    form_for(page, "/account/logout/").submit(status=303)
    assert site.get("/manage/account/", status=303)
    assert "session_id" not in site.cookies


def test_logout_is_recorded(site, user, db_session):
    log_in(site)
    form_for(site.get("/account/logout/"), "/account/logout/").submit()
    db_session.rollback()
    assert db_session.scalar(sa.select(Event.tag).order_by(Event.id.desc())) == "account:logout"


def test_pages_that_need_a_login_send_people_to_it_and_back(site, user):
    response = site.get("/manage/account/token/", status=303)
    assert response.headers["Location"] == (
        "http://localhost/account/login/?next=%2Fmanage%2Faccount%2Ftoken%2F"
    )
    page = response.follow()
    form = form_for(page, "/account/login/")
    form["username"], form["password"] = "alice", PASSWORD
    assert form.submit().headers["Location"].endswith("/manage/account/token/")


def test_login_page_redirects_someone_already_logged_in(site, user):
    log_in(site)
    assert site.get("/account/login/", status=303)


def test_disabled_account_cannot_log_in(site, make_user, db_session):
    user = make_user("carol")
    user.is_active = False
    db_session.commit()
    response = log_in(site, "carol", status=200)
    assert "This account is disabled." in text_of(response)
