"""Who may see /admin/: a logged-in admin with a second factor; every answer is private."""

from __future__ import annotations

import pytest

from tests.functional.admin.conftest import assert_private, log_in, said, user_named
from warehouse.admin.access import NO_TWO_FACTOR, NOT_ADMIN, NOT_LOGGED_IN

ADMIN_PAGES = [
    "/admin/",
    "/admin/projects/",
    "/admin/projects/demo/",
    "/admin/users/",
    "/admin/users/alice/",
    "/admin/prohibited-names/",
    "/admin/flags/",
    "/admin/reports/",
    "/admin/log/",
    "/admin/queues/",
]


def test_anonymous_gets_a_403_that_says_to_log_in(site):
    page = site.get("/admin/", status=403)
    assert said(page, NOT_LOGGED_IN)
    assert_private(page)


def test_a_user_who_is_not_an_admin_gets_a_403(site, make_user):
    make_user("alice")
    log_in(site, "alice")
    page = site.get("/admin/flags/", status=403)
    assert said(page, NOT_ADMIN)
    assert_private(page)
    # Nor can they post to an admin action.
    site.post("/admin/flags/read-only/", {"enabled": "1"}, status=400)  # no CSRF token


def test_an_admin_without_two_factor_gets_a_403_that_says_to_enrol(site, make_user, db_session):
    make_user("root")
    user_named(db_session, "root").is_superuser = True
    db_session.commit()
    log_in(site, "root")
    page = site.get("/admin/", status=403)
    assert said(page, NO_TWO_FACTOR)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_admin_page_answers_an_admin_and_is_never_cached(admin_site, demo, path):
    page = admin_site.get(path)
    assert page.status_int == 200
    assert_private(page)
    assert 'aria-label="Admin"' in page.text


def test_cli_grants_and_revokes_admin_and_logs_it(cli, make_user, db_session):
    make_user("bob")
    assert "bob is now an admin" in cli("user", "admin", "bob").output
    assert user_named(db_session, "bob").is_superuser
    assert "already an admin" in cli("user", "admin", "bob", status=1).output
    cli("user", "admin", "bob", "--revoke")
    assert not user_named(db_session, "bob").is_superuser
    assert "no user named" in cli("user", "admin", "nobody", status=1).output.lower()
    log = cli("admin", "log", "--limit", "1").output
    assert "cli:operator" in log and "revoke admin" in log and "user bob" in log
    assert len(cli("admin", "log").output.strip().splitlines()) == 2
