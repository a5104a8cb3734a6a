"""GET /api/changes: the change feed's contract (docs/mirroring.md)."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from tests.support.factories import create_project, yank
from warehouse.accounts.models import User
from warehouse.packaging import journal
from warehouse.packaging.models import JournalEntry, Release

FIELDS = {
    "serial",
    "project",
    "normalized_project",
    "version",
    "action",
    "submitted_at",
    "submitted_by",
}


def follow(webapp, url: str):
    """GET a URL the feed handed out (absolute) or a path."""
    parts = urlsplit(url)
    if parts.scheme:
        assert (parts.scheme, parts.netloc) == ("http", "localhost")
    return webapp.get(f"{parts.path}?{parts.query}")


def test_empty_index(webapp):
    response = webapp.get("/api/changes")
    assert response.content_type == "application/json"
    assert response.json == {
        "changes": [],
        "next": "http://localhost/api/changes?since=0&limit=1000",
        "last_serial": 0,
    }
    assert response.headers["X-PyPI-Last-Serial"] == "0"
    assert "max-age=" in response.headers["Cache-Control"]


def test_every_journal_field_is_there(webapp, db_session):
    db_session.add(User(username="alice", password="not-a-hash"))
    create_project(db_session, "Demo_Pkg", versions=["1.0"], files=("sdist",))
    journal.record(
        db_session, "Demo_Pkg", journal.Action.YANK_RELEASE, version="1.0", submitted_by="alice"
    )
    db_session.commit()

    changes = webapp.get("/api/changes").json["changes"]
    assert [c["serial"] for c in changes] == [1, 2, 3, 4]
    assert all(set(c) == FIELDS for c in changes)
    assert changes[2] == {
        "serial": 3,
        "project": "Demo_Pkg",
        "normalized_project": "demo-pkg",
        "version": "1.0",
        "action": "add sdist file demo_pkg-1.0.tar.gz",
        "submitted_at": changes[2]["submitted_at"],
        "submitted_by": None,
    }
    assert changes[3]["submitted_by"] == "alice" and changes[3]["action"] == "yank release"
    assert changes[0]["version"] is None

    entry = db_session.get(JournalEntry, 3)
    submitted = datetime.datetime.strptime(changes[2]["submitted_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert submitted.replace(tzinfo=datetime.UTC) == entry.submitted_date


def test_pages_follow_the_cursor_until_caught_up(webapp, db_session):
    for n in range(5):
        create_project(db_session, f"p{n}", versions=["1.0"], files=())  # 2 entries each
    seen, url, pages = [], "/api/changes?limit=3", 0
    while True:
        body = follow(webapp, url).json
        pages += 1
        assert body["last_serial"] == 10
        seen += [c["serial"] for c in body["changes"]]
        url = body["next"]
        if len(body["changes"]) < 3:
            break
    assert seen == list(range(1, 11))
    assert pages == 4
    assert parse_qs(urlsplit(url).query) == {"since": ["10"], "limit": ["3"]}

    # New changes appear after the cursor, exactly once.
    yank(db_session, _release(db_session))
    body = follow(webapp, url).json
    assert [(c["serial"], c["action"]) for c in body["changes"]] == [(11, "yank release")]


def _release(db_session):
    return db_session.scalars(sa.select(Release).order_by(Release.id)).first()


def test_since_past_the_end_is_an_empty_page_with_the_same_cursor(webapp, db_session):
    create_project(db_session, "alpha", versions=[], files=())
    body = webapp.get("/api/changes?since=99&limit=5").json
    assert body["changes"] == [] and body["last_serial"] == 1
    assert body["next"].endswith("?since=99&limit=5")


def test_limit_bounds(webapp, db_session):
    db_session.execute(
        sa.text(
            "INSERT INTO journals (id, name, action, submitted_date) "
            "SELECT n, 'p', 'create', now() FROM generate_series(1, 10050) n"
        )
    )
    db_session.commit()
    assert len(webapp.get("/api/changes").json["changes"]) == 1000
    assert len(webapp.get("/api/changes?limit=10000").json["changes"]) == 10000
    body = webapp.get("/api/changes?since=10000&limit=10000").json
    assert [c["serial"] for c in body["changes"]] == list(range(10001, 10051))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=-1", "since must be an integer"),
        ("since=abc", "since must be an integer"),
        ("since=1.5", "since must be an integer"),
        ("since=", "since must be an integer"),
        ("since=1&since=2", "give since once"),
        ("limit=0", "limit must be an integer from 1 to 10000"),
        ("limit=10001", "limit must be an integer from 1 to 10000"),
        ("limit=ten", "limit must be an integer"),
        ("since=99999999999999999999999", "since must be an integer"),
    ],
)
def test_bad_parameters_are_400_json(webapp, query, message):
    response = webapp.get(f"/api/changes?{query}", status=400)
    assert response.content_type == "application/json"
    assert message in response.json["error"]
