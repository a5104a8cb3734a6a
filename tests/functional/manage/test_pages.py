"""The manage pages: every page and form, through the real login and CSRF checks."""

from __future__ import annotations

import html

import sqlalchemy as sa

from tests.functional.manage.conftest import add_role, form_for, log_in
from tests.functional.manage.conftest import text_of as _text_of
from warehouse.events.models import Event
from warehouse.manage.models import RoleInvitation
from warehouse.packaging.models import JournalEntry, Project, Release, Role

MANAGE = "/manage/project/demo/"


def text_of(page) -> str:
    # Jinja escapes quotes; the sentences asserted on are about what a person reads.
    return html.unescape(_text_of(page))


def _roles(db_session):
    db_session.expire_all()
    rows = db_session.execute(
        sa.text(
            "select u.username, r.role_name from roles r join users u on u.id = r.user_id "
            "order by u.username"
        )
    )
    return [tuple(row) for row in rows]


def test_login_required(site, project):
    for path in ("/manage/projects/", MANAGE, MANAGE + "releases/", MANAGE + "history/"):
        response = site.get(path, status=303)
        assert response.location.endswith(f"/account/login/?next={path.replace('/', '%2F')}") or (
            "/account/login/" in response.location
        )


def test_projects_page_lists_roles(site, project, db_session):
    log_in(site, "alice")
    page = site.get("/manage/projects/")
    assert "demo" in page.text and "Owner" in text_of(page)
    assert f'href="{MANAGE}"' in page.text
    # bob has none.
    site.post("/account/logout/", {"csrf_token": _csrf(site)}, status="*")
    site.reset()
    log_in(site, "bob")
    assert "You have no projects yet" in text_of(site.get("/manage/projects/"))


def _csrf(site):
    page = site.get("/manage/projects/")
    return (
        page.html.find("input", {"name": "csrf_token"})["value"]
        if page.html.find("input", {"name": "csrf_token"})
        else ""
    )


def test_no_role_is_not_found(site, project):
    log_in(site, "bob")
    site.get(MANAGE, status=404)
    site.get(MANAGE + "release/1.0/", status=404)
    site.get("/manage/project/missing/", status=404)


def test_settings_and_delete_project(site, project, db_session):
    log_in(site, "alice")
    page = site.get(MANAGE)
    assert "Manage demo" in text_of(page)
    form = form_for(page, MANAGE + "delete/")
    assert form["csrf_token"].value
    form["confirm_project_name"] = "wrong"
    refused = form.submit(status=400)
    assert "Type the project's name, demo, to delete it." in text_of(refused)
    assert db_session.scalar(sa.select(Project)) is not None

    form = form_for(refused, MANAGE + "delete/")
    form["confirm_project_name"] = "Demo"
    done = form.submit(status=303).follow()
    assert "Deleted the project demo." in text_of(done)
    db_session.expire_all()
    assert db_session.scalar(sa.select(Project)) is None
    event = db_session.scalar(sa.select(Event).where(Event.tag == "project:delete"))
    assert event.actor == "alice" and event.ip == "192.0.2.10"


def test_forms_need_csrf(site, project, db_session):
    log_in(site, "alice")
    site.post(MANAGE + "delete/", {"confirm_project_name": "demo"}, status=400)
    assert db_session.scalar(sa.select(Project)) is not None


def test_maintainer_cannot_delete_or_invite(site, project, db_session):
    add_role(db_session, project, "bob", "Maintainer")
    log_in(site, "bob")
    page = site.get(MANAGE)
    assert "Delete the project" not in page.text
    token = page.html.find("input", {"name": "csrf_token"})
    csrf = (
        token["value"]
        if token
        else site.get(MANAGE + "release/1.0/").html.find("input", {"name": "csrf_token"})["value"]
    )
    site.post(MANAGE + "delete/", {"csrf_token": csrf, "confirm_project_name": "demo"}, status=403)
    site.post(
        MANAGE + "collaboration/",
        {"csrf_token": csrf, "username": "carol", "role_name": "Owner"},
        status=403,
    )


def test_invite_accept_and_remove(site, make_site, project, db_session, make_user, smtp_server):
    log_in(site, "alice")
    page = site.get(MANAGE + "collaboration/")
    form = form_for(page, MANAGE + "collaboration/")
    form["username"] = "nobody"
    refused = form.submit(status=400)
    assert "There is no user named 'nobody'." in text_of(refused)

    form = form_for(refused, MANAGE + "collaboration/")
    form["username"] = "bob"
    form["role_name"] = "Owner"
    page = form.submit(status=303).follow()
    assert "Invited bob as Owner." in text_of(page)
    assert "bob as Owner" in text_of(page)  # pending
    mail = smtp_server.wait_for_message(to="bob@example.com")
    assert mail.subject == "alice invited you to demo on Warehouse"
    assert "/manage/projects/" in mail.text
    form = form_for(page, MANAGE + "collaboration/")
    form["username"] = "bob"
    assert "already been invited" in text_of(form.submit(status=400))

    # bob sees the invitation and accepts.
    bob_site = make_site()
    log_in(bob_site, "bob")
    page = bob_site.get("/manage/projects/")
    assert "alice invited you to be an Owner" in text_of(page)
    accept = [
        f
        for f in page.forms.values()
        if f.get("action", default=None) and f["action"].value == "accept"
    ][0]
    page = accept.submit(status=303).follow()
    assert "You are now a Owner of demo." in text_of(page) or "Owner of demo" in text_of(page)
    assert _roles(db_session) == [("alice", "Owner"), ("bob", "Owner")]
    assert db_session.scalar(sa.select(RoleInvitation)) is None
    assert (
        db_session.scalar(
            sa.select(JournalEntry).where(JournalEntry.action == "add Owner bob")
        ).submitted_by
        == "bob"
    )

    # alice removes bob.
    page = site.get(MANAGE + "collaboration/")
    form = [
        f
        for f in page.forms.values()
        if f.action == MANAGE + "collaboration/remove/" and f["username"].value == "bob"
    ][0]
    page = form.submit(status=303).follow()
    assert "Removed bob from demo." in text_of(page)
    assert _roles(db_session) == [("alice", "Owner")]
    tags = db_session.scalars(
        sa.select(Event.tag).where(Event.source == "project").order_by(Event.id)
    ).all()
    assert tags == ["project:role:invite", "project:role:add", "project:role:remove"]


def test_owner_changes_a_collaborators_role(site, project, db_session):
    add_role(db_session, project, "bob", "Maintainer")
    log_in(site, "alice")
    page = site.get(MANAGE + "collaboration/")
    promote = [
        f
        for f in page.forms.values()
        if f.action == MANAGE + "collaboration/role/" and f["username"].value == "bob"
    ][0]
    assert promote["role_name"].value == "Owner"
    page = promote.submit(status=303).follow()
    assert "bob is now Owner of demo." in text_of(page)
    assert _roles(db_session) == [("alice", "Owner"), ("bob", "Owner")]
    actions = db_session.scalars(
        sa.select(JournalEntry.action).order_by(JournalEntry.id.desc()).limit(2)
    ).all()
    assert actions == ["add Owner bob", "remove Maintainer bob"]
    tags = db_session.scalars(sa.select(Event.tag).where(Event.source == "project")).all()
    assert "project:role:change" in tags

    # bob, now an Owner too, steps alice down; then no Owner may step down any more.
    db_session.commit()
    csrf = page.html.find("input", {"name": "csrf_token"})["value"]
    site.post(
        MANAGE + "collaboration/role/",
        {"csrf_token": csrf, "username": "alice", "role_name": "Maintainer"},
        status=303,
    )
    refused = site.post(
        MANAGE + "collaboration/role/",
        {"csrf_token": csrf, "username": "bob", "role_name": "Maintainer"},
        status="*",
    )
    assert refused.status_int in (403, 409)
    assert sorted(_roles(db_session)) == [("alice", "Maintainer"), ("bob", "Owner")]


def test_the_last_owner_cannot_step_down(site, project, db_session):
    log_in(site, "alice")
    page = site.get(MANAGE + "collaboration/")
    csrf = page.html.find("input", {"name": "csrf_token"})["value"]
    refused = site.post(
        MANAGE + "collaboration/role/",
        {"csrf_token": csrf, "username": "alice", "role_name": "Maintainer"},
        status=409,
    )
    assert "alice is the last Owner of demo" in text_of(refused)
    assert _roles(db_session) == [("alice", "Owner")]


def test_decline_invitation(site, project, db_session):
    bob = db_session.scalar(sa.text("select id from users where username = 'bob'"))
    db_session.add(RoleInvitation(project_id=project.id, user_id=bob, role_name="Maintainer"))
    db_session.commit()
    log_in(site, "bob")
    page = site.get("/manage/projects/")
    decline = [
        f
        for f in page.forms.values()
        if f.get("action", default=None) and f["action"].value == "decline"
    ][0]
    page = decline.submit(status=303).follow()
    assert "You declined the invitation to demo." in text_of(page)
    assert db_session.scalar(sa.select(RoleInvitation)) is None
    assert _roles(db_session) == [("alice", "Owner")]


def test_last_owner_cannot_leave(site, project, db_session):
    log_in(site, "alice")
    page = site.get(MANAGE + "collaboration/")
    form = form_for(page, MANAGE + "collaboration/remove/")
    refused = form.submit(status=409)
    assert "alice is the last Owner of demo" in text_of(refused)
    assert _roles(db_session) == [("alice", "Owner")]


def test_maintainer_may_leave(site, project, db_session):
    add_role(db_session, project, "bob", "Maintainer")
    log_in(site, "bob")
    page = site.get(MANAGE + "collaboration/")
    assert "Send invitation" not in page.text
    form = form_for(page, MANAGE + "collaboration/remove/")
    assert "You left demo." in text_of(form.submit(status=303).follow())
    assert _roles(db_session) == [("alice", "Owner")]


def test_releases_yank_unyank(site, project, db_session):
    add_role(db_session, project, "bob", "Maintainer")
    log_in(site, "bob")
    page = site.get(MANAGE + "releases/")
    assert MANAGE + "release/1.0/" in page.text and MANAGE + "release/2.0/" in page.text
    page = site.get(MANAGE + "release/1.0/")
    assert "Delete the release" not in page.text  # Owners only
    form = form_for(page, MANAGE + "release/1.0/yank/")
    form["reason"] = "<b>broken</b>"
    page = form.submit(status=303).follow()
    assert "Yanked demo 1.0." in text_of(page)
    assert "&lt;b&gt;broken&lt;/b&gt;" in page.text  # escaped
    release = db_session.scalar(sa.select(Release).where(Release.version == "1.0"))
    assert release.yanked and release.yanked_reason == "<b>broken</b>"
    assert "yanked" in site.get(MANAGE + "releases/").text

    page = form_for(page, MANAGE + "release/1.0/unyank/").submit(status=303).follow()
    assert "Unyanked demo 1.0." in text_of(page)
    db_session.expire_all()
    assert not db_session.get(Release, release.id).yanked


def _delete_file_form(page, file_id):
    return [
        f
        for f in page.forms.values()
        if f.action == MANAGE + "release/1.0/delete-file/" and f["file_id"].value == str(file_id)
    ][0]


def test_delete_file_and_release(site, project, db_session):
    from warehouse.packaging.models import File

    sdist = db_session.scalar(sa.select(File).where(File.filename == "demo-1.0.tar.gz"))
    log_in(site, "alice")
    page = site.get(MANAGE + "release/1.0/")
    form = _delete_file_form(page, sdist.id)
    form["confirm_filename"] = "nope"
    refused = form.submit(status=400)
    assert "Type the file's name, demo-1.0.tar.gz, to delete it." in text_of(refused)

    form = _delete_file_form(refused, sdist.id)
    form["confirm_filename"] = "demo-1.0.tar.gz"
    page = form.submit(status=303).follow()
    assert "Deleted demo-1.0.tar.gz." in text_of(page)
    assert "demo-1.0-py3-none-any.whl" in page.text

    form = form_for(page, MANAGE + "release/1.0/delete/")
    form["confirm_version"] = "1.1"
    refused = form.submit(status=400)
    assert "Type the version, 1.0, to delete the release." in text_of(refused)
    form = form_for(refused, MANAGE + "release/1.0/delete/")
    form["confirm_version"] = "1.0"
    page = form.submit(status=303).follow()
    assert "Deleted demo 1.0." in text_of(page)
    db_session.expire_all()
    assert [r.version for r in db_session.scalars(sa.select(Release))] == ["2.0"]
    actions = db_session.scalars(
        sa.select(JournalEntry.action).order_by(JournalEntry.id.desc()).limit(2)
    ).all()
    assert actions == ["remove release", "remove file demo-1.0.tar.gz"]


def test_history_page(site, project, db_session):
    log_in(site, "alice")
    form = form_for(site.get(MANAGE + "release/2.0/"), MANAGE + "release/2.0/yank/")
    form["reason"] = "oops"
    form.submit(status=303)
    page = site.get(MANAGE + "history/")
    text = text_of(page)
    assert "Release yanked" in text and "alice" in text and "192.0.2.10" in text
    assert "reason: oops" in text
    assert "yank release" in text and "create" in text and "new release" in text


def test_destructive_actions_need_recent_password(site, project, db_session, monkeypatch):
    log_in(site, "alice")
    page = site.get(MANAGE)
    monkeypatch.setattr("warehouse.manage.views.recently_authenticated", lambda request: False)
    form = form_for(page, MANAGE + "delete/")
    form["confirm_project_name"] = "demo"
    response = form.submit(status=303)
    assert response.location.endswith("/account/reauthenticate/?next=%2Fmanage%2Fproject%2Fdemo%2F")
    assert db_session.scalar(sa.select(Project)) is not None


def test_required_two_factor_blocks_changes(make_site, project, db_session):
    site = make_site(require_2fa=True)
    log_in(site, "alice")
    page = site.get(MANAGE + "release/1.0/")
    assert "turn on two-factor authentication" in text_of(page)
    page = form_for(page, MANAGE + "release/1.0/yank/").submit(status=303).follow()
    assert "Before managing projects, turn on two-factor authentication" in text_of(page)
    assert not db_session.scalar(sa.select(Release).where(Release.version == "1.0")).yanked


def test_role_table_is_untouched_by_other_projects(site, project, db_session):
    # A sanity check that the pages do not leak other projects.
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Role)) == 1
