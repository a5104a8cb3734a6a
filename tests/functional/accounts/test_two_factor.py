"""TOTP two-factor authentication: enrolling, logging in with it, recovery codes."""

from __future__ import annotations

import re
import time

import pyotp
import sqlalchemy as sa

from tests.functional.accounts.conftest import form_for, log_in, text_of
from warehouse.accounts.models import RecoveryCode, User
from warehouse.events.models import Event


def code_for(secret: str, *, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def enrol_totp(site) -> tuple[str, list[str]]:
    """Turn on TOTP for the logged-in user; returns the secret and the recovery codes."""
    page = site.get("/manage/account/two-factor/totp/")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    form = form_for(page, "/manage/account/two-factor/totp/")
    form["totp_value"] = code_for(secret)
    result = form.submit(status=200)
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", result.text)
    return secret, codes


def second_step(site, field: str, value: str, *, status=303):
    path = "/account/two-factor/" if field == "totp_value" else "/account/recovery-code/"
    form = form_for(site.get(path), path)
    form[field] = value
    return form.submit(status=status)


def test_enrolment_shows_a_qr_code_and_the_secret(site, user):
    log_in(site)
    page = site.get("/manage/account/two-factor/totp/")
    assert re.search(r'<img src="data:image/svg\+xml[^"]+"[^>]*alt="QR code', page.text)
    assert re.search(r'id="totp-secret">[A-Z2-7 ]{32,}<', page.text)
    assert "no-store" in page.headers["Cache-Control"]
    # Reloading keeps the same secret, so a code scanned from the first load still works.
    again = site.get("/manage/account/two-factor/totp/")
    secret = re.search(r'id="totp-secret">([^<]+)<', page.text).group(1)
    assert secret in again.text


def test_wrong_code_does_not_enrol(site, user, db_session):
    log_in(site)
    page = site.get("/manage/account/two-factor/totp/")
    form = form_for(page, "/manage/account/two-factor/totp/")
    form["totp_value"] = "000000"
    assert "That code is not right" in text_of(form.submit(status=200))
    db_session.rollback()
    assert db_session.scalar(sa.select(User.totp_secret)) is None


def test_enrolment_gives_eight_recovery_codes_once_and_sends_mail(
    site, user, smtp_server, db_session
):
    log_in(site)
    before = site.cookies["session_id"]
    secret, codes = enrol_totp(site)
    assert site.cookies["session_id"] != before  # a privilege change rotates the session
    assert len(codes) == 8 and len(set(codes)) == 8
    assert all(re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}", code) for code in codes)
    mail = smtp_server.wait_for_message(to="alice@example.com")
    assert mail.subject == "Two-factor authentication added to your Warehouse account"

    db_session.rollback()
    stored = db_session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert len(stored) == 8 and not any(code.encode() in bytes(h) for h in stored for code in codes)
    # Shown once: the recovery codes page now only counts them.
    page = site.get("/manage/account/two-factor/recovery-codes/")
    assert "8 unused recovery codes" in text_of(page)
    assert not any(code in page.text for code in codes)
    tags = db_session.scalars(sa.select(Event.tag).order_by(Event.id)).all()
    assert "account:two_factor:method_added" in tags


def test_login_asks_for_the_code_after_the_password(site, user):
    log_in(site)
    secret, _ = enrol_totp(site)
    form_for(site.get("/account/logout/"), "/account/logout/").submit()

    response = log_in(site)
    assert response.headers["Location"].endswith("/account/two-factor/")
    # Half way is not logged in.
    assert site.get("/manage/account/", status=303)
    response = second_step(site, "totp_value", "123456", status=200)
    assert "That code is not right" in text_of(response)
    # The code used at enrolment is spent; the next one works.
    response = second_step(site, "totp_value", code_for(secret, steps_ahead=1))
    assert response.headers["Location"].endswith("/manage/account/")
    assert site.get("/manage/account/").status_int == 200


def test_a_totp_code_works_only_once(make_site, user):
    site = make_site()
    log_in(site)
    secret, _ = enrol_totp(site)
    code = code_for(secret, steps_ahead=1)
    other = make_site()
    log_in(other)
    second_step(other, "totp_value", code)
    replay = make_site()
    log_in(replay)
    assert "That code is not right" in text_of(second_step(replay, "totp_value", code, status=200))


def test_recovery_code_logs_in_once(make_site, user, db_session):
    site = make_site()
    log_in(site)
    _, codes = enrol_totp(site)

    first = make_site()
    log_in(first)
    response = second_step(first, "recovery_code_value", codes[0].upper().replace("-", " "))
    assert "You used a recovery code; 7 remain" in text_of(response.follow())

    second = make_site()
    log_in(second)
    response = second_step(second, "recovery_code_value", codes[0], status=200)
    assert "already been used" in text_of(response)
    second_step(second, "recovery_code_value", codes[1])
    db_session.rollback()
    assert "account:recovery_codes:used" in db_session.scalars(sa.select(Event.tag)).all()


def test_second_step_without_the_password_step_goes_back_to_login(site, user):
    response = site.get("/account/two-factor/", status=303)
    assert response.headers["Location"].endswith("/account/login/")


def test_removing_totp_needs_a_recent_password_and_turns_it_off(
    site, user, smtp_server, monkeypatch, db_session
):
    from warehouse.accounts import authentication

    log_in(site)
    enrol_totp(site)
    page = site.get("/manage/account/")
    monkeypatch.setattr(authentication, "REAUTH_SECONDS", 0)
    response = form_for(page, "/manage/account/two-factor/totp/remove/").submit(status=303)
    assert "/account/reauthenticate/" in response.headers["Location"]
    db_session.rollback()
    assert db_session.scalar(sa.select(User.totp_secret)) is not None

    monkeypatch.setattr(authentication, "REAUTH_SECONDS", 600)
    page = site.get("/manage/account/")
    form_for(page, "/manage/account/two-factor/totp/remove/").submit(status=303)
    db_session.rollback()
    assert db_session.scalar(sa.select(User.totp_secret)) is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    mail = smtp_server.wait_for_message(to="alice@example.com")
    assert mail.subject == "Two-factor authentication removed from your Warehouse account"
    # And the next login needs only the password.
    form_for(site.get("/account/logout/"), "/account/logout/").submit()
    assert log_in(site).headers["Location"].endswith("/manage/account/")


def test_new_recovery_codes_void_the_old_ones(make_site, user):
    site = make_site()
    log_in(site)
    _, old_codes = enrol_totp(site)
    page = site.get("/manage/account/two-factor/recovery-codes/")
    result = form_for(page, "/manage/account/two-factor/recovery-codes/").submit(status=200)
    new_codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", result.text)
    assert len(new_codes) == 8 and not set(new_codes) & set(old_codes)
    assert "no-store" in result.headers["Cache-Control"]

    other = make_site()
    log_in(other)
    second_step(other, "recovery_code_value", old_codes[0], status=200)
    second_step(other, "recovery_code_value", new_codes[0])
