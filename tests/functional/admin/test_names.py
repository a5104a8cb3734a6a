"""Prohibited names: refused for new projects with a sentence naming the rule; existing
projects untouched. From the CLI and the admin page."""

from __future__ import annotations

from tests.functional.admin.conftest import basic_auth, form_for, said, user_named
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist


def test_cli_prohibit_list_allow_and_uploads_obey(
    site, cli, demo, make_token, db_session, tmp_path
):
    token = basic_auth("__token__", make_token(user_named(db_session, "alice")))
    out = cli("names", "prohibit", "Evil.Pkg", "--reason", "impersonates a popular project")
    assert "prohibited evil-pkg" in out.output
    cli("names", "prohibit", "demo", "--reason", "reserved for the foundation")
    listed = cli("names", "list").output
    assert "evil-pkg" in listed and "impersonates a popular project" in listed
    assert (
        "already prohibited"
        in cli("names", "prohibit", "evil_pkg", "--reason", "x", status=1).output
    )
    assert "Give a reason" in cli("names", "prohibit", "other", "--reason", " ", status=1).output

    refused = post_upload(
        site,
        make_sdist(tmp_path, "evil_pkg", "1.0"),
        token,
        name="evil_pkg",
        version="1.0",
        status=400,
    )
    assert "isn't allowed: it is on the index's list of prohibited project names" in refused.status
    assert "(impersonates a popular project)" in refused.status
    # The existing project of a prohibited name goes on as before.
    post_upload(site, make_sdist(tmp_path, "demo", "2.0"), token, name="demo", version="2.0")

    assert "allowed evil-pkg" in cli("names", "allow", "EVIL_pkg").output
    assert "is not prohibited" in cli("names", "allow", "evil-pkg", status=1).output
    post_upload(
        site, make_sdist(tmp_path, "evil_pkg", "1.0"), token, name="evil_pkg", version="1.0"
    )
    log = cli("admin", "log").output
    assert "prohibit name" in log and "allow name" in log


def test_admin_page_prohibits_and_allows(admin_site):
    page = admin_site.get("/admin/prohibited-names/")
    form = form_for(page, "/admin/prohibited-names/")
    form["name"] = "Bad_Name"
    form["reason"] = "malware family"
    shown = form.submit(status=303).follow()
    assert said(shown, "New projects named 'bad-name' are now refused.")
    assert "malware family" in shown.text
    again = form_for(shown, "/admin/prohibited-names/")
    again["name"] = "bad.name"
    again["reason"] = "twice"
    assert said(again.submit(status=303).follow(), "'bad-name' is already prohibited.")
    allowed = form_for(shown, "/admin/prohibited-names/allow/").submit(status=303).follow()
    assert said(allowed, "'bad-name' may be registered again.")
    assert "No names are prohibited." in allowed.text
