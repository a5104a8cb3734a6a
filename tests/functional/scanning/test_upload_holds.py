"""Every upload is scanned before it commits: a malicious file holds its release (gone from the
simple pages, the JSON API and the file URLs, owners emailed, admins' queue), a suspicious one
is served and queued, a clean one is served; a scan that does not finish in time holds the
release until a worker finishes it. Results, findings and holds outlive the project."""

from __future__ import annotations

import json
import xmlrpc.client as xmlrpc_client

import sqlalchemy as sa

from tests.functional.scanning.conftest import malicious_wheel, suspicious_sdist
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_wheel
from warehouse.packaging.models import File, JournalEntry, Project
from warehouse.scanning import services
from warehouse.scanning.models import ReleaseHold, ScanFindingRow, ScanResultRow
from warehouse.storage import storage_from_settings

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def served(site, name: str) -> dict:
    """What installers are offered: files on both simple pages, versions in the JSON API."""
    html = site.get(f"/simple/{name}/").text
    simple = site.get(f"/simple/{name}/", headers=JSON).json
    api = site.get(f"/pypi/{name}/json", expect_errors=True)
    return {
        "html": sorted(f["filename"] for f in simple["files"] if f["filename"] in html),
        "json": sorted(f["filename"] for f in simple["files"]),
        "versions": simple["versions"],
        "api": sorted(api.json["releases"]) if api.status_int == 200 else None,
    }


def file_row(db_session, filename: str) -> File:
    db_session.rollback()
    return db_session.scalar(sa.select(File).where(File.filename == filename))


def status_of(site, db_session, filename: str) -> int:
    path = file_row(db_session, filename).path
    return site.get(f"/packages/{path}", expect_errors=True).status_int


def test_a_malicious_upload_holds_its_release_and_tells_the_owners(
    site, uploader, tmp_path, db_session, smtp_server
):
    _, headers = uploader
    good = make_wheel(tmp_path, "evilpkg", "1.0")
    post_upload(site, good, headers)
    bad = malicious_wheel(tmp_path, "evilpkg", "2.0")
    assert post_upload(site, bad, headers).text.strip() == "OK"

    assert served(site, "evilpkg") == {
        "html": [good.name],
        "json": [good.name],
        "versions": ["1.0"],
        "api": ["1.0"],
    }
    assert site.get("/pypi/evilpkg/2.0/json", expect_errors=True).status_int == 404
    # The website shows the project at 1.0, and has no page for 2.0.
    assert "evilpkg 1.0" in " ".join(site.get("/project/evilpkg/").html.h1.text.split())
    assert site.get("/project/evilpkg/2.0/", expect_errors=True).status_int == 404
    assert status_of(site, db_session, bad.name) == 404
    assert status_of(site, db_session, good.name) == 200

    hold = db_session.scalar(sa.select(ReleaseHold))
    assert (hold.project_name, hold.version, hold.reason, hold.lifted) == (
        "evilpkg",
        "2.0",
        "malicious",
        None,
    )
    assert "py-exec-decoded in evilpkg/__init__.py:2" in hold.detail
    result = db_session.scalar(sa.select(ScanResultRow).where(ScanResultRow.filename == bad.name))
    assert (result.verdict, result.trigger, result.version) == ("malicious", "upload", "2.0")
    assert result.rules_version
    finding = next(f for f in result.findings if f.rule == "py-exec-decoded")
    assert (finding.member, finding.line, finding.severity) == (
        "evilpkg/__init__.py",
        2,
        "critical",
    )
    assert "exec(base64.b64decode(" in finding.excerpt
    actions = db_session.scalars(
        sa.select(JournalEntry.action).where(JournalEntry.name == "evilpkg")
    ).all()
    assert "hold release" in actions

    message = smtp_server.wait_for_message(to="alice@example.com")
    assert "2.0" in message.subject and "withheld" in message.subject
    assert "py-exec-decoded" in message.text

    # The admins' queue lists the hold.
    queue = services.findings_queue(db_session)
    assert [(h.project_name, h.version) for h in queue.held] == [("evilpkg", "2.0")]


def test_a_held_release_is_gone_from_xmlrpc_and_rss_too(site, uploader, tmp_path):
    _, headers = uploader
    post_upload(site, make_wheel(tmp_path, "listed", "1.0"), headers)
    post_upload(site, malicious_wheel(tmp_path, "listed", "2.0"), headers)

    def xmlrpc(method, *params):
        body = xmlrpc_client.dumps(params, method)
        answer = site.post("/pypi", body, headers={"Content-Type": "text/xml"})
        return xmlrpc_client.loads(answer.body)[0][0]

    assert xmlrpc("package_releases", "listed", True) == ["1.0"]
    assert xmlrpc("release_urls", "listed", "2.0") == []
    assert [url["filename"] for url in xmlrpc("release_urls", "listed", "1.0")] == [
        "listed-1.0-py3-none-any.whl"
    ]
    feed = site.get("/rss/project/listed/releases.xml").text
    assert "/project/listed/1.0/" in feed and "/project/listed/2.0/" not in feed


def test_a_held_file_is_not_served_by_a_process_whose_blocklist_is_behind(
    site, uploader, tmp_path, db_session, monkeypatch
):
    """Each web process learns of a hold through Redis within a second; until then, its first
    read of the file's row (which every process makes before serving a file) refuses it."""
    _, headers = uploader
    post_upload(site, make_wheel(tmp_path, "lagging", "1.0"), headers)
    bad = malicious_wheel(tmp_path, "lagging", "2.0")
    blocklist = site.app.registry["admin.blocked_blobs"]
    monkeypatch.setattr(blocklist, "blocks", lambda key: False)  # has not heard of it yet
    post_upload(site, bad, headers)

    assert status_of(site, db_session, bad.name) == 404
    # Not remembered: once the hold is lifted the same process serves the file.
    db_session.execute(sa.update(ReleaseHold).values(lifted=sa.func.now(), lifted_by="test"))
    db_session.commit()
    assert status_of(site, db_session, bad.name) == 200


def test_a_file_added_to_a_held_release_is_hidden_with_it(site, uploader, tmp_path, db_session):
    _, headers = uploader
    post_upload(site, malicious_wheel(tmp_path, "evilpkg", "1.0"), headers)
    clean_sdist = suspicious_sdist(tmp_path, "evilpkg", "1.0")
    post_upload(site, clean_sdist, headers)
    assert served(site, "evilpkg")["json"] == []
    assert status_of(site, db_session, clean_sdist.name) == 404


def test_a_suspicious_upload_is_served_and_queued(site, uploader, tmp_path, db_session):
    _, headers = uploader
    sdist = suspicious_sdist(tmp_path, "sus-pkg", "1.0")
    post_upload(site, sdist, headers)
    assert served(site, "sus-pkg")["json"] == [sdist.name]
    assert status_of(site, db_session, sdist.name) == 200
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ReleaseHold)) == 0

    queue = services.findings_queue(db_session)
    assert [v.result.filename for v in queue.suspicious] == [sdist.name]
    assert [f.rule for f in queue.suspicious[0].open_threats] == ["sensitive-file"]


def test_a_clean_upload_is_served_with_its_clean_result(site, uploader, tmp_path, db_session):
    _, headers = uploader
    wheel = make_wheel(tmp_path, "fine", "1.0")
    post_upload(site, wheel, headers)
    assert served(site, "fine")["json"] == [wheel.name]
    result = db_session.scalar(sa.select(ScanResultRow))
    assert (result.filename, result.verdict, result.findings) == (wheel.name, "clean", [])
    queue = services.findings_queue(db_session)
    assert (queue.held, queue.suspicious) == ([], [])


def test_scanning_can_be_turned_off(make_site, uploader, tmp_path, db_session):
    site = make_site(scan_uploads=False)
    post_upload(site, malicious_wheel(tmp_path, "evilpkg", "1.0"), uploader[1])
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ScanResultRow)) == 0


def test_a_scan_past_its_budget_holds_until_a_worker_finishes_it(
    make_site, uploader, tmp_path, db_session, settings, task_context
):
    site = make_site(scan_upload_budget_seconds=1e-9)
    _, headers = uploader
    clean = make_wheel(tmp_path, "slow", "1.0")
    bad = malicious_wheel(tmp_path, "slow", "2.0")
    post_upload(site, clean, headers)
    post_upload(site, bad, headers)
    assert served(site, "slow") == {"html": [], "json": [], "versions": [], "api": None}
    db_session.rollback()
    assert sorted((h.version, h.reason) for h in db_session.scalars(sa.select(ReleaseHold))) == [
        ("1.0", "pending"),
        ("2.0", "pending"),
    ]

    from warehouse.scanning.uploads import finish_pending_scan

    ctx = task_context(storage_from_settings(settings))
    sent = []

    def mail(to, template, **context):
        sent.append((to, template, context["version"]))

    assert finish_pending_scan(ctx, file_row(db_session, clean.name).id, mail=mail) == "clean"
    assert finish_pending_scan(ctx, file_row(db_session, bad.name).id, mail=mail) == "malicious"
    # Idempotent: a second delivery of the task does nothing.
    assert finish_pending_scan(ctx, file_row(db_session, bad.name).id, mail=mail) is None

    assert served(site, "slow")["versions"] == ["1.0"]
    db_session.rollback()
    holds = {h.version: h for h in db_session.scalars(sa.select(ReleaseHold))}
    assert (holds["1.0"].lifted is not None, holds["1.0"].lifted_by) == (True, "(scanner)")
    assert (holds["2.0"].reason, holds["2.0"].lifted) == ("malicious", None)
    assert sent == [("alice@example.com", "release-held", "2.0")]


def test_results_findings_and_holds_outlive_the_project(site, uploader, tmp_path, db_session):
    _, headers = uploader
    post_upload(site, malicious_wheel(tmp_path, "gone", "1.0"), headers)
    db_session.rollback()
    db_session.execute(sa.delete(Project).where(Project.normalized_name == "gone"))
    db_session.commit()

    result = db_session.scalar(sa.select(ScanResultRow))
    assert (result.project_name, result.release_id, result.file_id) == ("gone", None, None)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ScanFindingRow)) >= 1
    hold = db_session.scalar(sa.select(ReleaseHold))
    assert (hold.project_name, hold.version, hold.release_id) == ("gone", "1.0", None)
    assert json.dumps(services.findings_queue(db_session).held[0].detail)
