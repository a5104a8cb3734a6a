"""Server-side sessions (cookie flags, rotation) and CSRF protection."""

from __future__ import annotations

import hashlib

from tests.functional.accounts.conftest import form_for, log_in, session_cookie
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist
from tests.support.fixtures import basic_auth
from warehouse.accounts.services import DatabaseUserService


def _set_cookie_headers(response) -> list[str]:
    return [value for name, value in response.headerlist if name.lower() == "set-cookie"]


def test_browsing_creates_no_session(site):
    response = site.get("/")
    assert _set_cookie_headers(response) == []
    response = site.get("/account/register/")  # its form needs a CSRF token: now it does
    assert session_cookie(site)


def test_session_cookie_flags_over_http(site):
    (cookie,) = _set_cookie_headers(site.get("/account/login/"))
    lowered = cookie.lower()
    assert lowered.startswith("session_id=")
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # development over plain http would lose the cookie


def test_session_cookie_is_secure_over_https(site):
    response = site.get("/account/login/", extra_environ={"wsgi.url_scheme": "https"})
    (cookie,) = _set_cookie_headers(response)
    assert "; secure" in cookie.lower()


def test_session_data_lives_in_redis_under_a_hash_of_the_id(site, redis_client):
    site.get("/account/login/")
    session_id = session_cookie(site)
    assert redis_client.exists("session:" + hashlib.sha256(session_id.encode()).hexdigest())
    assert not redis_client.exists("session:" + session_id)


def test_session_id_changes_at_login_and_the_old_one_dies(site, user, redis_client):
    site.get("/account/login/")
    before = session_cookie(site)
    log_in(site)
    after = session_cookie(site)
    assert before and after and before != after
    assert not redis_client.exists("session:" + hashlib.sha256(before.encode()).hexdigest())
    # Someone who planted or saw the old id gets nothing.
    site.set_cookie("session_id", before)
    assert site.get("/manage/account/", status=303)
    site.set_cookie("session_id", after)
    assert site.get("/manage/account/").status_int == 200


def test_csrf_token_changes_at_login(site, user):
    before = form_for(site.get("/account/login/"), "/account/login/")["csrf_token"].value
    log_in(site)
    page = site.get("/manage/account/")
    after = form_for(page, "/manage/account/password/")["csrf_token"].value
    assert before != after


def test_post_without_csrf_token_is_refused(site, user):
    site.get("/account/login/")
    response = site.post(
        "/account/login/", {"username": "alice", "password": "correct horse battery"}, status=400
    )
    assert "This form has expired" in response.text
    assert site.get("/manage/account/", status=303)  # not logged in


def test_post_with_a_wrong_csrf_token_is_refused(site, user):
    site.get("/account/login/")
    site.post(
        "/account/login/",
        {"username": "alice", "password": "correct horse battery", "csrf_token": "forged"},
        status=400,
    )


def test_csrf_token_from_another_session_is_refused(make_site, user):
    attacker, victim = make_site(), make_site()
    token = form_for(attacker.get("/account/login/"), "/account/login/")["csrf_token"].value
    log_in(victim)
    page = victim.get("/manage/account/")
    form = form_for(page, "/manage/account/email/add/")
    form["email"] = "attacker@example.com"
    form["csrf_token"] = token
    form.submit(status=400)


def test_csrf_header_is_accepted(site, user):
    page = site.get("/account/login/")
    token = form_for(page, "/account/login/")["csrf_token"].value
    site.post(
        "/account/login/",
        {"username": "alice", "password": "correct horse battery"},
        headers={"X-CSRF-Token": token},
        status=303,
    )


def test_upload_api_needs_no_csrf_token_and_ignores_session_cookies(site, user, tmp_path, token):
    log_in(site)
    sdist = make_sdist(tmp_path, "cookiepkg", "1.0")
    # A logged-in browser's cookie gives no right to upload (no CSRF check happens there).
    response = post_upload(site, sdist, {}, status=403)
    assert "Invalid or non-existent authentication information" in response.text
    post_upload(site, sdist, basic_auth("__token__", token))


def test_password_change_elsewhere_ends_this_session(make_site, user, db_session):
    site = make_site()
    log_in(site)
    DatabaseUserService(db_session).set_password(
        db_session.merge(user), "a completely different password"
    )
    db_session.commit()
    assert site.get("/manage/account/", status=303)


def test_pages_for_a_session_are_kept_out_of_shared_caches(site, user):
    anonymous = site.get("/")
    assert "private" not in anonymous.headers.get("Cache-Control", "")
    with_cookie = site.get("/account/login/")  # the first write of a session
    assert "private" in with_cookie.headers["Cache-Control"]
    log_in(site)
    response = site.get("/manage/account/")  # any page that asks who is logged in
    assert "private" in response.headers["Cache-Control"]
    assert "Cookie" in response.headers["Vary"]
