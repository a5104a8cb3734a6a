"""Admin flags: each refuses its kind of write with its message; read-only answers every write
with 503 while reads go on."""

from __future__ import annotations

import pytest

from tests.functional.admin.conftest import basic_auth, form_for, said, user_named
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist
from warehouse.admin.flags import DEFAULT_MESSAGES, Flag


@pytest.fixture
def alice_token(demo, make_token, db_session):
    return basic_auth("__token__", make_token(user_named(db_session, "alice")))


def test_flag_list_and_set_from_the_cli(cli):
    listed = cli("admin", "flag", "list").output
    assert all(f"{flag.value}" in listed for flag in Flag) and " on " not in listed
    out = cli("admin", "flag", "set", "disallow-new-upload", "on", "--message", "Back at noon.")
    assert "disallow-new-upload is on: Back at noon." in out.output
    assert "Back at noon." in cli("admin", "flag", "list").output
    assert "no flag named 'nope'" in cli("admin", "flag", "set", "nope", "on", status=1).output
    assert "set flag" in cli("admin", "log").output


def test_disallow_new_upload_refuses_uploads_with_the_message(site, cli, alice_token, tmp_path):
    cli("admin", "flag", "set", "disallow-new-upload", "on", "--message", "Uploads pause today.")
    sdist = make_sdist(tmp_path, "demo", "2.0")
    refused = post_upload(site, sdist, alice_token, name="demo", version="2.0", status=403)
    assert refused.status == "403 Uploads pause today."
    cli("admin", "flag", "set", "disallow-new-upload", "off")
    post_upload(site, sdist, alice_token, name="demo", version="2.0")


def test_disallow_new_project_registration_refuses_only_new_projects(
    site, cli, alice_token, tmp_path
):
    cli("admin", "flag", "set", "disallow-new-project-registration", "on")
    fresh = make_sdist(tmp_path, "brand_new", "1.0")
    refused = post_upload(site, fresh, alice_token, name="brand_new", version="1.0", status=403)
    assert DEFAULT_MESSAGES[Flag.DISALLOW_NEW_PROJECT_REGISTRATION] in refused.status
    post_upload(site, make_sdist(tmp_path, "demo", "2.0"), alice_token, name="demo", version="2.0")


def test_read_only_answers_writes_with_503_and_reads_go_on(
    admin_site, make_site, cli, alice_token, tmp_path, demo
):
    cli("admin", "flag", "set", "read-only", "on", "--message", "Maintenance until 14:00 UTC.")
    site = make_site()
    upload = post_upload(
        site,
        make_sdist(tmp_path, "demo", "2.0"),
        alice_token,
        name="demo",
        version="2.0",
        status=503,
    )
    assert upload.status == "503 Maintenance until 14:00 UTC."
    page = site.get("/account/register/")
    refused = site.post("/account/register/", {"username": "x"}, status=503)
    # A person gets the site's page with the message; a program the message as text.
    assert refused.content_type == "text/html"
    assert "Maintenance until 14:00 UTC." in refused.html.find(role="alert").text
    assert "read-only" in refused.html.title.text
    assert upload.content_type == "text/plain"
    assert upload.text == "Maintenance until 14:00 UTC.\n"
    assert site.get("/simple/demo/").status_int == 200
    assert site.get("/project/demo/").status_int == 200
    assert page.status_int == 200
    # The admin area still writes, so an admin can turn it off from there.
    flags = admin_site.get("/admin/flags/")
    form_for(flags, "/admin/flags/read-only/").submit(status=303)
    post_upload(site, make_sdist(tmp_path, "demo", "2.0"), alice_token, name="demo", version="2.0")


def test_disallow_new_user_registration_shows_and_refuses(site, cli, db_session):
    page = site.get("/account/register/")
    form = form_for(page, "/account/register/")
    form["username"] = "newbie"
    form["email"] = "newbie@example.com"
    form["new_password"] = form["password_confirm"] = "a long enough password"
    cli("admin", "flag", "set", "disallow-new-user-registration", "on")
    assert said(
        site.get("/account/register/"), DEFAULT_MESSAGES[Flag.DISALLOW_NEW_USER_REGISTRATION]
    )
    refused = form.submit(status=403)
    assert said(refused, DEFAULT_MESSAGES[Flag.DISALLOW_NEW_USER_REGISTRATION])
    assert user_named(db_session, "newbie") is None


def test_disallow_deletion_refuses_owners_deletions(site, cli, alice_token):
    cli("admin", "flag", "set", "disallow-deletion", "on", "--message", "No deletions now.")
    refused = site.delete("/api/projects/demo/releases/1.0", headers=alice_token, status=403)
    assert "No deletions now." in refused.text
    cli("admin", "flag", "set", "disallow-deletion", "off")
    site.delete("/api/projects/demo/releases/1.0", headers=alice_token, status=200)


def test_the_flags_page_turns_a_flag_on_with_a_message_at_once(admin_site, db_session):
    page = admin_site.get("/admin/flags/")
    form = form_for(page, "/admin/flags/disallow-new-user-registration/")
    form["message"] = "Sign-ups reopen Monday."
    form.submit(status=303)
    # This process sees it at once; so does the registration page.
    anonymous = admin_site.get("/admin/flags/")
    assert "Sign-ups reopen Monday." in anonymous.text
    log = admin_site.get("/admin/log/")
    assert "set flag" in log.text and "root" in log.text
