"""Token scopes on every API: upload, the management API, the tokens API, the reports API."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid

import sqlalchemy as sa

from tests.functional.manage.conftest import basic_auth
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_wheel
from warehouse.accounts.models import User
from warehouse.packaging.models import Release
from warehouse.tokens.models import APIToken
from warehouse.tokens.services import narrow

BASE = "/api/projects/demo/releases"
REPORT = "/danger-api/projects/demo/observations"
REPORT_TYPE = "application/vnd.pypi.api-v0-danger+json"


def _secret(headers: dict) -> str:
    return base64.b64decode(headers["Authorization"].split()[1]).decode().split(":", 1)[1]


def _bearer(headers: dict) -> dict:
    return {"Authorization": f"Bearer {_secret(headers)}", "Content-Type": REPORT_TYPE}


def _report(site, headers, status):
    body = b'{"kind": "is_malware", "summary": "steals keys"}'
    return site.post(REPORT, body, headers=_bearer(headers), status=status)


def test_a_leaked_upload_token_cannot_yank_delete_manage_tokens_or_report(
    site, project, db_session, user_token, tmp_path
):
    leaked = user_token("alice", scopes=["upload"])
    for call in (
        lambda: site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=leaked, status=403),
        lambda: site.delete(f"{BASE}/1.0", headers=leaked, status=403),
        lambda: site.get("/api/projects/demo/collaborators", headers=leaked, status=403),
    ):
        assert call().json["error"].endswith("its scope is upload only.")
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Release)) == 2
    assert not any(db_session.scalars(sa.select(Release.yanked)))
    assert "upload only" in site.get("/api/tokens", headers=leaked, status=403).json["error"]
    created = site.post_json("/api/tokens", {"scopes": ["upload"]}, headers=leaked, status=403)
    assert "upload only" in created.json["error"]
    assert "upload only" in _report(site, leaked, 403).json["error"]
    # It still uploads.
    wheel = make_wheel(tmp_path, "demo", "3.0")
    post_upload(site, wheel, leaked, status=200)


def test_a_manage_token_cannot_upload(site, project, user_token, tmp_path):
    manager = user_token("alice", scopes=["manage"])
    response = post_upload(site, make_wheel(tmp_path, "demo", "3.0"), manager, status=403)
    assert "this token may not upload" in response.status
    site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=manager)
    _report(site, manager, 202)


def test_tokens_made_before_scopes_keep_upload_and_manage(site, project, db_session, tmp_path):
    """A version 1 token (a row with only a hash of its secret, no scopes) works as before."""
    alice = db_session.scalar(sa.select(User).where(User.username == "alice"))
    token_id, secret = uuid.uuid4(), secrets.token_bytes(32)
    db_session.add(
        APIToken(id=token_id, user_id=alice.id, secret_hash=hashlib.sha256(secret).digest())
    )
    db_session.commit()
    blob = b"\x01" + token_id.bytes + secret
    old = basic_auth("__token__", "pypi-" + base64.urlsafe_b64encode(blob).decode().rstrip("="))
    post_upload(site, make_wheel(tmp_path, "demo", "3.0"), old, status=200)
    site.post_json(f"{BASE}/1.0/yank", {"reason": "old token"}, headers=old)
    site.delete(f"{BASE}/2.0", headers=old)
    listed = site.get("/api/tokens", headers=old).json
    assert [t["scopes"] for t in listed] == [["upload", "manage"]]


def test_caveats_narrow_a_token_and_never_widen_it(site, project, db_session, user_token):
    full = user_token("alice")
    narrowed = basic_auth("__token__", narrow(_secret(full), scopes=["upload"]))
    site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=narrowed, status=403)
    # Adding "manage" back intersects: still upload only.
    again = basic_auth("__token__", narrow(_secret(narrowed), scopes=["upload", "manage"]))
    site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=again, status=403)
    other = basic_auth("__token__", narrow(_secret(full), projects=["other"]))
    refused = site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=other, status=403)
    assert "not scoped to the project 'demo'" in refused.json["error"]
    # Dropping a caveat breaks the signature chain.
    tampered = basic_auth("__token__", _without_last_caveat(_secret(narrowed)))
    refused = site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=tampered, status=401)
    assert "Invalid or non-existent" in refused.json["error"]
    # The full token is unchanged.
    site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=full)


def _without_last_caveat(token: str) -> str:
    from pymacaroons import Macaroon

    macaroon = Macaroon.deserialize(token.removeprefix("pypi-"))
    stripped = Macaroon(
        location=macaroon.location, identifier=macaroon.identifier, signature=macaroon.signature
    )
    for caveat in macaroon.first_party_caveats()[:-1]:
        stripped.caveats.append(caveat)
    return "pypi-" + stripped.serialize()


def test_the_tokens_api_lists_creates_within_limits_and_revokes(
    site, project, db_session, user_token
):
    scoped = user_token("alice", projects=["demo"])
    made = site.post_json(
        "/api/tokens",
        {"description": "ci", "scopes": ["upload"], "projects": ["demo"], "expires_in_days": 7},
        headers=scoped,
        status=201,
    ).json
    assert (made["scopes"], made["projects"], made["description"]) == (["upload"], ["demo"], "ci")
    assert made["token"].startswith("pypi-") and made["expires"]
    # Wider than the caller (every project): refused.
    wider = site.post_json("/api/tokens", {"scopes": ["upload"]}, headers=scoped, status=403)
    assert "within its own limits" in wider.json["error"]
    listed = {t["id"]: t for t in site.get("/api/tokens", headers=scoped).json}
    assert made["id"] in listed and "token" not in listed[made["id"]]
    new = basic_auth("__token__", made["token"])
    site.post_json(f"{BASE}/1.0/yank", {"reason": "x"}, headers=new, status=403)
    site.delete(f"/api/tokens/{made['id']}", headers=scoped)
    refused = site.get("/api/projects/demo/collaborators", headers=new, status=401)
    assert "Invalid or non-existent" in refused.json["error"]
    site.delete(f"/api/tokens/{made['id']}", headers=scoped, status=404)


def test_the_account_page_makes_upload_only_tokens(site, project, db_session):
    from tests.functional.manage.conftest import form_for, log_in

    log_in(site)
    form = form_for(site.get("/manage/account/token/"), "/manage/account/token/")
    form["description"] = "ci upload"
    _tick(form, ["upload"])
    page = form.submit()
    assert "Your new token" in page.text
    db_session.expire_all()
    assert db_session.scalar(sa.select(APIToken.scopes)) == ["upload"]
    # Neither box ticked: refused with a sentence.
    form = form_for(site.get("/manage/account/token/"), "/manage/account/token/")
    form["description"] = "nothing"
    _tick(form, [])
    assert "Choose what the token may do" in form.submit().text


def _tick(form, values) -> None:
    for field in form.fields["permissions"]:
        field.checked = field._value in values
