"""Quarantine: the project leaves every read surface, its files 404, its owners are locked out
and told; leaving quarantine restores everything. From the CLI and the admin page."""

from __future__ import annotations

import xmlrpc.client

import sqlalchemy as sa

from tests.functional.admin.conftest import (
    basic_auth,
    file_paths,
    form_for,
    log_in,
    project_named,
    user_named,
)
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist
from warehouse.admin.models import AdminLogEntry
from warehouse.packaging.models import JournalEntry


def visible_everywhere(site, project) -> dict[str, bool]:
    """Where the project can be seen (each surface read through the app, as clients do)."""
    xmlrpc_body = xmlrpc.client.dumps((), "list_packages")
    listed = site.post("/pypi", xmlrpc_body, headers={"Content-Type": "text/xml"})
    return {
        "simple index": "demo" in site.get("/simple/").text,
        "simple page": site.get("/simple/demo/", expect_errors=True).status_int == 200,
        "json": site.get("/pypi/demo/json", expect_errors=True).status_int == 200,
        "page": site.get("/project/demo/", expect_errors=True).status_int == 200,
        "search": "/project/demo/" in site.get("/search/?q=demo").text,
        "rss": "demo" in site.get("/rss/packages.xml").text,
        "xmlrpc": "demo" in xmlrpc.client.loads(listed.body)[0][0],
        "files": all(
            site.get(path, expect_errors=True).status_int == 200 for path in file_paths(project)
        ),
    }


def test_cli_quarantine_hides_the_project_everywhere_and_unquarantine_restores_it(
    site, demo, cli, db_session
):
    assert all(visible_everywhere(site, demo).values())

    result = cli("project", "quarantine", "demo", "--reason", "ships a credential stealer")
    assert "demo is in quarantine" in result.output
    seen = visible_everywhere(site, demo)
    assert not any(seen.values()), seen

    cli("project", "unquarantine", "demo")
    seen = visible_everywhere(site, demo)
    assert all(seen.values()), seen

    db_session.rollback()
    actions = db_session.scalars(
        sa.select(JournalEntry.action).where(JournalEntry.name == "demo").order_by(JournalEntry.id)
    ).all()
    assert actions[-2:] == ["quarantine enter", "quarantine exit"]
    log = db_session.scalars(sa.select(AdminLogEntry).order_by(AdminLogEntry.id)).all()
    assert [(e.actor, e.source, e.action, e.target) for e in log] == [
        ("cli:operator", "cli", "quarantine", "demo"),
        ("cli:operator", "cli", "unquarantine", "demo"),
    ]
    assert log[0].details == {"reason": "ships a credential stealer"}
    assert log[0].remote_addr  # the operator's host


def test_cli_refuses_what_makes_no_sense(cli, demo):
    assert (
        "no project named"
        in cli("project", "quarantine", "nope", "--reason", "x", status=1).output.lower()
    )
    assert "not in quarantine" in cli("project", "unquarantine", "demo", status=1).output
    cli("project", "quarantine", "demo", "--reason", "x")
    assert (
        "already in quarantine"
        in cli("project", "quarantine", "demo", "--reason", "y", status=1).output
    )


def test_admin_page_quarantines_emails_owners_and_locks_them_out(
    admin_site, demo, make_site, smtp_server, tmp_path, make_token, db_session
):
    page = admin_site.get("/admin/projects/demo/")
    form = form_for(page, "/admin/projects/demo/quarantine/")
    form["reason"] = "typosquat of requests"
    shown = form.submit(status=303).follow()
    assert "demo is in quarantine" in shown.text
    assert project_named(db_session, "demo").quarantined

    message = smtp_server.wait_for_message(to="alice@example.com")
    assert "quarantine" in message.subject and "typosquat of requests" in message.text

    # The owner can neither upload nor manage it, and is told why.
    token = make_token(user_named(db_session, "alice"))
    sdist = make_sdist(tmp_path, "demo", "2.0")
    refused = post_upload(
        admin_site, sdist, basic_auth("__token__", token), name="demo", version="2.0", status=403
    )
    assert "is in quarantine" in refused.status
    owner = make_site()
    log_in(owner, "alice")
    managed = owner.get("/manage/project/demo/", status=403)
    assert "is in quarantine" in managed.text
    # Their list of projects still has it, marked, with no links that would only refuse.
    listed = owner.get("/manage/projects/")
    cell = listed.html.find(attrs={"data-quarantined": "demo"})
    assert cell is not None and "is in quarantine" in cell.text
    assert listed.html.find("a", href="/manage/project/demo/") is None

    # Released: the owner is told, and may upload again.
    page = admin_site.get("/admin/projects/demo/")
    smtp_server.clear()
    form_for(page, "/admin/projects/demo/unquarantine/").submit(status=303)
    assert "out of quarantine" in smtp_server.wait_for_message(to="alice@example.com").subject
    post_upload(admin_site, sdist, basic_auth("__token__", token), name="demo", version="2.0")
