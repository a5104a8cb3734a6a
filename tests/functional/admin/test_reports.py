"""Reports: the danger API and the report button; rate limits; the automatic quarantine
rules; reports and the admin log outlive the project."""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from tests.functional.admin.conftest import form_for, log_in, project_named, user_named
from warehouse.admin.models import AdminLogEntry, Observation
from warehouse.settings import RateLimit

URL = "/danger-api/projects/demo/observations"
CONTENT_TYPE = "application/vnd.pypi.api-v0-danger+json"
GOOD = {"kind": "is_malware", "summary": "setup.py posts ~/.ssh to a pastebin"}


@pytest.fixture
def bearer(make_token, db_session):
    def make(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(user_named(db_session, username))}"}

    return make


def send(site, body, headers, status=202, content_type=CONTENT_TYPE, url=URL):
    import json

    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return site.post(url, payload, headers={**headers, "Content-Type": content_type}, status=status)


def test_api_accepts_a_report_with_202(site, demo, bearer, db_session):
    answer = send(
        site, {**GOOD, "inspector_url": "https://inspector.example/demo/1.0/"}, bearer("alice")
    )
    assert answer.json["project"] == "demo" and answer.json["thanks"]
    assert answer.content_type == "application/json"
    db_session.rollback()
    report = db_session.scalar(sa.select(Observation))
    assert (report.project_name, report.kind, report.reporter, report.via) == (
        "demo",
        "is_malware",
        "alice",
        "api",
    )
    assert report.inspector_url == "https://inspector.example/demo/1.0/"


@pytest.mark.parametrize(
    ("body", "status", "content_type", "sentence"),
    [
        (
            GOOD,
            415,
            "application/json",
            "Content-Type must be application/vnd.pypi.api-v0-danger+json",
        ),
        (b"{not json", 400, CONTENT_TYPE, "not valid JSON"),
        ([1, 2], 400, CONTENT_TYPE, "must be a JSON object"),
        ({"summary": "x"}, 400, CONTENT_TYPE, "'kind' is required"),
        ({"kind": "is_malware"}, 400, CONTENT_TYPE, "'summary' is required"),
        ({**GOOD, "kind": "is_bad"}, 400, CONTENT_TYPE, "'kind' must be one of"),
        ({**GOOD, "summary": "  "}, 400, CONTENT_TYPE, "'summary' must say what is wrong"),
        ({**GOOD, "inspector_url": "javascript:x"}, 400, CONTENT_TYPE, "must be an http(s) URL"),
        ({**GOOD, "extra": 1}, 400, CONTENT_TYPE, "Unknown field(s): extra"),
    ],
)
def test_api_refuses_bad_bodies_with_json_sentences(
    site, demo, bearer, db_session, body, status, content_type, sentence
):
    answer = send(site, body, bearer("alice"), status=status, content_type=content_type)
    assert sentence in answer.json["error"]
    db_session.rollback()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Observation)) == 0


def test_api_needs_a_token_and_an_existing_project(site, demo, bearer):
    assert "Authentication required" in send(site, GOOD, {}, status=401).json["error"]
    bad = send(site, GOOD, {"Authorization": "Bearer pypi-nonsense"}, status=401)
    assert bad.json["error"] and bad.headers["WWW-Authenticate"] == "Bearer"
    basic = send(site, GOOD, {"Authorization": "Basic eDp5"}, status=401)
    assert "Bearer" in basic.json["error"]
    missing = send(
        site, GOOD, bearer("alice"), status=404, url="/danger-api/projects/nope/observations"
    )
    assert missing.json["error"] == "There is no project named 'nope'."


def test_reports_are_rate_limited_per_user(make_site, demo, bearer, make_user):
    site = make_site(report_ratelimit=RateLimit(2, 3600))
    make_user("bob")
    alice, bob = bearer("alice"), bearer("bob")
    send(site, GOOD, alice)
    send(site, GOOD, alice)
    limited = send(site, GOOD, alice, status=429)
    assert "Too many reports" in limited.json["error"] and limited.headers["Retry-After"]
    send(site, GOOD, bob)


def test_report_button_on_the_project_page(site, demo, db_session):
    anonymous = site.get("/project/demo/")
    assert "to report malware" in anonymous.text
    log_in(site, "alice")
    page = site.get("/project/demo/")
    form = form_for(page, "/report/demo/")
    form["kind"] = "is_spam"
    form["summary"] = "SEO spam in the description"
    back = form.submit(status=303).follow()
    assert "administrators will look at your report" in back.text
    db_session.rollback()
    report = db_session.scalar(sa.select(Observation))
    assert (report.kind, report.reporter, report.via) == ("is_spam", "alice", "web")


def test_a_trusted_observer_quarantines_a_young_project(site, demo, bearer, make_user, db_session):
    observer = make_user("watcher")
    observer.is_trusted_observer = True
    # Against a week-old project one trusted report is not enough...
    db_session.commit()
    send(site, GOOD, bearer("watcher"))
    assert not project_named(db_session, "demo").quarantined
    # ...but a second reporter who agrees is.
    send(site, {**GOOD, "summary": "same payload"}, bearer("alice"))
    project = project_named(db_session, "demo")
    assert project.quarantined and "agree" in project.lifecycle_status_note
    site.get("/simple/demo/", status=404)


def test_one_trusted_report_quarantines_a_project_younger_than_a_day(
    site, demo, bearer, make_user, db_session, cli
):
    make_user("watcher")
    cli("user", "observer", "watcher")
    project_named(db_session, "demo").created = datetime.datetime.now(datetime.UTC)
    db_session.commit()
    answer = send(site, {**GOOD, "kind": "is_dependency_confusion"}, bearer("watcher"))
    db_session.rollback()
    reports = db_session.execute(
        sa.select(Observation.reporter, Observation.reporter_trusted)
    ).all()
    assert project_named(db_session, "demo").quarantined, (answer.json, reports)
    entry = db_session.scalar(sa.select(AdminLogEntry).where(AdminLogEntry.action == "quarantine"))
    assert (entry.actor, entry.source) == ("(system)", "auto")


def test_untrusted_reporters_alone_quarantine_nothing(site, demo, bearer, make_user, db_session):
    make_user("bob")
    send(site, GOOD, bearer("alice"))
    send(site, GOOD, bearer("bob"))
    assert not project_named(db_session, "demo").quarantined


def test_reports_and_the_admin_log_outlive_the_project(admin_site, demo, bearer, db_session, cli):
    send(admin_site, GOOD, bearer("alice"))
    cli("project", "quarantine", "demo", "--reason", "malware")
    page = admin_site.get("/admin/projects/demo/")
    form = form_for(page, "/admin/projects/demo/delete/")
    form["confirm"] = "demo"
    form.submit(status=303)
    assert project_named(db_session, "demo") is None
    assert db_session.scalar(sa.select(Observation)).project_name == "demo"
    actions = db_session.scalars(
        sa.select(AdminLogEntry.action)
        .where(AdminLogEntry.target == "demo")
        .order_by(AdminLogEntry.id)
    ).all()
    assert actions == ["quarantine", "delete project"]
    queue = admin_site.get("/admin/reports/")
    assert "(deleted)" in queue.text
    resolve = form_for(
        queue, f"/admin/reports/{db_session.scalar(sa.select(Observation.id))}/resolve/"
    )
    resolve["resolution"] = "confirmed malware"
    resolve.submit(status=303)
    db_session.rollback()
    assert db_session.scalar(sa.select(Observation.resolution)) == "confirmed malware"
