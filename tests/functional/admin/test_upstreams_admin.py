"""The admin pages for upstreams: add, allow, sync, remove; each in the admin log."""

from __future__ import annotations

import sqlalchemy as sa

from tests.functional.admin.conftest import form_for, said
from warehouse.admin.models import AdminLogEntry
from warehouse.upstreams.models import Upstream, UpstreamAllowance


def test_admin_adds_allows_and_removes_an_upstream(admin_site, db_session, monkeypatch):
    from warehouse.upstreams import tasks

    page = admin_site.get("/admin/upstreams/")
    assert "No upstreams." in page.text
    form = form_for(page, "/admin/upstreams/")
    form["name"] = "pypi"
    form["url"] = "https://pypi.org/simple"
    form["policy"] = "streamed"
    form["bandersnatch_config"] = "[plugins]\nenabled = blocklist_project\n"
    form["password"] = "secret"
    form["username"] = "me"
    shown = form.submit(status=303).follow()
    assert said(shown, "Upstream 'pypi' added; its first sync runs within minutes.")
    upstream = db_session.scalar(sa.select(Upstream))
    assert (upstream.url, upstream.policy, upstream.username) == (
        "https://pypi.org/simple/",
        "streamed",
        "me",
    )
    assert upstream.password_encrypted and "secret" not in upstream.password_encrypted

    again = form_for(shown, "/admin/upstreams/")
    again["name"] = "pypi"
    again["url"] = "https://pypi.org/simple"
    assert said(again.submit(status=303).follow(), "an upstream named 'pypi' exists already.")

    allow = form_for(shown, "/admin/upstreams/pypi/allow/")
    allow["project"] = "Our_Lib"
    assert said(allow.submit(status=303).follow(), "'Our_Lib' is allowed from 'pypi'.")
    assert db_session.scalar(sa.select(UpstreamAllowance.normalized_name)) == "our-lib"

    sent = []
    monkeypatch.setattr(tasks.sync_upstream, "delay", lambda *args: sent.append(args))
    synced = form_for(shown, "/admin/upstreams/pypi/sync/").submit(status=303).follow()
    assert said(synced, "A sync of 'pypi' was sent to the workers.")
    assert sent == [(upstream.id,)]

    removed = form_for(shown, "/admin/upstreams/pypi/remove/").submit(status=303).follow()
    assert said(removed, "Upstream 'pypi' removed, with 0 projects mirrored from it.")
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Upstream)) == 0
    actions = set(db_session.scalars(sa.select(AdminLogEntry.action)))
    assert {"add upstream", "allow from upstream", "sync upstream", "remove upstream"} <= actions


def test_the_upstreams_page_is_for_admins_only(site):
    site.get("/admin/upstreams/", status=403)
