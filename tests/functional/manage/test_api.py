"""The JSON management API: token auth, scope, roles, and what each call changes."""

from __future__ import annotations

import datetime

import sqlalchemy as sa

from tests.functional.manage.conftest import add_role, basic_auth
from warehouse.events.models import Event
from warehouse.packaging.models import JournalEntry, Release
from warehouse.settings import Settings
from warehouse.tokens.services import DatabaseTokenService

BASE = "/api/projects/demo/releases"


def _release(db_session, version):
    db_session.expire_all()
    return db_session.scalar(sa.select(Release).where(Release.version == version))


def test_yank_and_unyank(site, project, db_session, user_token):
    headers = user_token("alice")
    response = site.post_json(f"{BASE}/1.0/yank", {"reason": "broken build"}, headers=headers)
    assert response.json == {
        "project": "demo",
        "version": "1.0",
        "yanked": True,
        "yanked_reason": "broken build",
    }
    release = _release(db_session, "1.0")
    assert release.yanked and release.yanked_reason == "broken build"
    actions = db_session.scalars(sa.select(JournalEntry.action).order_by(JournalEntry.id)).all()
    assert actions[-1] == "yank release"
    event = db_session.scalar(sa.select(Event).where(Event.tag == "project:release:yank"))
    assert event.actor == "alice" and event.ip == "192.0.2.10"
    assert event.additional["reason"] == "broken build"

    # Yanking twice is a conflict, as is unyanking what is not yanked.
    again = site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=headers, status=409)
    assert "already yanked" in again.json["error"]

    response = site.post(f"{BASE}/1.0/unyank", headers=headers)
    assert response.json["yanked"] is False
    assert not _release(db_session, "1.0").yanked
    again = site.post(f"{BASE}/1.0/unyank", headers=headers, status=409)
    assert again.json == {"error": "demo 1.0 is not yanked."}


def test_yank_without_body_has_empty_reason(site, project, db_session, user_token):
    site.post(f"{BASE}/2.0/yank", headers=user_token("alice"))
    assert _release(db_session, "2.0").yanked_reason == ""


def test_bad_body(site, project, user_token):
    headers = {**user_token("alice"), "Content-Type": "application/json"}
    response = site.post(f"{BASE}/1.0/yank", "not json", headers=headers, status=400)
    assert "JSON" in response.json["error"]
    response = site.post_json(f"{BASE}/1.0/yank", {"reason": 5}, headers=headers, status=400)
    assert response.json == {"error": "The reason must be a string."}


def test_delete_release_needs_owner(site, project, db_session, make_user, user_token):
    add_role(db_session, project, "bob", "Maintainer")
    refused = site.delete(f"{BASE}/1.0", headers=user_token("bob"), status=403)
    assert "Owner" in refused.json["error"] and "Maintainer" in refused.json["error"]
    # A Maintainer may yank.
    site.post_json(f"{BASE}/1.0/yank", {"reason": "r"}, headers=user_token("bob"))

    response = site.delete(f"{BASE}/1.0", headers=user_token("alice"))
    assert response.json == {"project": "demo", "version": "1.0", "deleted": True}
    assert _release(db_session, "1.0") is None
    assert (
        db_session.scalar(
            sa.select(JournalEntry).where(JournalEntry.action == "remove release")
        ).submitted_by
        == "alice"
    )
    site.delete(f"{BASE}/1.0", headers=user_token("alice"), status=404)


def test_collaborators(site, project, db_session, user_token):
    add_role(db_session, project, "bob", "Maintainer")
    response = site.get("/api/projects/Demo/collaborators", headers=user_token("bob"))
    assert response.json == [
        {"username": "alice", "role": "Owner"},
        {"username": "bob", "role": "Maintainer"},
    ]
    assert "no-store" in response.headers["Cache-Control"]


def test_authentication_errors(site, project):
    response = site.get("/api/projects/demo/collaborators", status=401)
    assert "__token__" in response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = site.get(
        "/api/projects/demo/collaborators",
        headers=basic_auth("__token__", "pypi-nonsense"),
        status=401,
    )
    assert response.json["error"].startswith("Invalid API token")
    response = site.get(
        "/api/projects/demo/collaborators", headers=basic_auth("alice", "pw"), status=401
    )
    assert "Username/Password" in response.json["error"]


def test_session_cookies_are_not_credentials(site, project):
    # Logged in on the website, but the API only honours tokens.
    from tests.functional.manage.conftest import log_in

    log_in(site, "alice")
    site.get("/api/projects/demo/collaborators", status=401)


def test_permission_errors(site, project, db_session, user_token):
    # bob has no role.
    response = site.post(f"{BASE}/1.0/yank", headers=user_token("bob"), status=403)
    assert response.json["error"] == (
        "This needs the Owner or Maintainer role on 'demo'; you have no role on it."
    )
    # A token scoped to another project.
    response = site.post(
        f"{BASE}/1.0/yank", headers=user_token("alice", projects=["other"]), status=403
    )
    assert "not scoped" in response.json["error"]
    assert not _release(db_session, "1.0").yanked
    # Scoped to this project: fine.
    site.post(f"{BASE}/1.0/yank", headers=user_token("alice", projects=["demo"]))


def test_not_found(site, project, user_token):
    headers = user_token("alice")
    response = site.post("/api/projects/nope/releases/1.0/yank", headers=headers, status=404)
    assert response.json == {"error": "No project named 'nope'."}
    response = site.post(f"{BASE}/9.9/yank", headers=headers, status=404)
    assert response.json == {"error": "'demo' has no release '9.9'."}


def test_required_two_factor(make_site, project, user_token):
    site = make_site(require_2fa=True)
    response = site.post(f"{BASE}/1.0/yank", headers=user_token("alice"), status=403)
    assert "two-factor" in response.json["error"]


def test_expired_token(site, project, db_session):
    from warehouse.accounts.models import User

    alice = db_session.scalar(sa.select(User).where(User.username == "alice"))
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    _, secret = DatabaseTokenService(db_session, Settings.secret_key).create(alice, expires=past)
    db_session.commit()
    response = site.post(f"{BASE}/1.0/yank", headers=basic_auth("__token__", secret), status=401)
    assert "xpired" in response.json["error"]
