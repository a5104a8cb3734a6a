"""The admins' side: findings with excerpts on the project page, the findings queue, one-click
release of a hold, dismissals recorded in the admin log."""

from __future__ import annotations

import sqlalchemy as sa

from tests.functional.admin.conftest import form_for, said
from tests.functional.scanning.conftest import malicious_wheel, suspicious_sdist
from tests.functional.test_upload import post_upload
from warehouse.admin.models import AdminLogEntry
from warehouse.scanning.models import FindingDismissal, ReleaseHold

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def offered(site, name: str) -> list[str]:
    return [f["filename"] for f in site.get(f"/simple/{name}/", headers=JSON).json["files"]]


def admin_log(db_session) -> list[tuple]:
    db_session.rollback()
    return [
        (e.actor, e.action, e.target, e.details)
        for e in db_session.scalars(sa.select(AdminLogEntry).order_by(AdminLogEntry.id))
    ]


def test_admin_sees_the_excerpt_and_releases_a_hold_in_one_click(
    admin_site, uploader, tmp_path, db_session
):
    bad = malicious_wheel(tmp_path, "evilpkg", "1.0")
    post_upload(admin_site, bad, uploader[1])
    assert offered(admin_site, "evilpkg") == []

    page = admin_site.get("/admin/projects/evilpkg/")
    assert said(page, "py-exec-decoded in evilpkg/__init__.py:2")
    assert "exec(base64.b64decode(" in page.text  # the excerpt
    assert said(page, "held")

    queue = admin_site.get("/admin/scanning/")
    assert said(queue, "evilpkg 1.0")
    hold = db_session.scalar(sa.select(ReleaseHold))
    shown = form_for(queue, f"/admin/scanning/holds/{hold.id}/release/").submit(status=303)
    assert said(shown.follow(), "evilpkg 1.0 is served again.")

    assert offered(admin_site, "evilpkg") == [bad.name]
    db_session.rollback()
    hold = db_session.scalar(sa.select(ReleaseHold))
    assert (hold.lifted_by, hold.lift_reason) == ("root", "released by an admin")
    assert admin_log(db_session) == [
        (
            "root",
            "release hold",
            "evilpkg",
            {
                "version": "1.0",
                "hold": hold.id,
                "held_for": "malicious",
                "reason": "released by an admin",
            },
        )
    ]
    # Releasing twice says so and writes nothing.
    again = admin_site.post(
        f"/admin/scanning/holds/{hold.id}/release/",
        {
            "csrf_token": form_for(queue, f"/admin/scanning/holds/{hold.id}/release/")[
                "csrf_token"
            ].value
        },
        status=303,
    ).follow()
    assert said(again, "was already released by root")
    assert len(admin_log(db_session)) == 1


def test_a_dismissed_finding_leaves_the_queue_and_is_logged(
    admin_site, uploader, tmp_path, db_session
):
    sdist = suspicious_sdist(tmp_path, "sus-pkg", "1.0")
    post_upload(admin_site, sdist, uploader[1])
    queue = admin_site.get("/admin/scanning/")
    assert said(queue, f"sensitive-file in {sdist.name.removesuffix('.tar.gz')}/.pypirc")
    form = next(f for f in queue.forms.values() if "/dismiss/" in f.action)

    form["reason"] = ""
    refused = admin_site.post(
        form.action, {"csrf_token": form["csrf_token"].value, "reason": " "}, status=303
    ).follow()
    assert said(refused, "Say why the finding is not a threat")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(FindingDismissal)) == 0

    form["reason"] = "a template with placeholders, no credentials"
    form.submit(status=303).follow()
    assert said(admin_site.get("/admin/scanning/"), "Nothing suspicious is waiting.")
    page = admin_site.get("/admin/projects/sus-pkg/")
    assert said(page, "Dismissed by root")
    assert said(page, "a template with placeholders, no credentials")
    [(actor, action, target, details)] = admin_log(db_session)
    assert (actor, action, target) == ("root", "dismiss finding", "sus-pkg")
    assert details["rule"] == "sensitive-file" and details["filename"] == sdist.name
    assert details["reason"] == "a template with placeholders, no credentials"


def test_the_scanning_pages_are_for_admins_only(site, db_session):
    for path in ("/admin/scanning/", "/admin/scanning/runs/"):
        assert said(site.get(path, status=403), "log in with an admin account")
