"""The PostgreSQL search backend on a real database: matching, ranking, filters, the index hook."""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.support.factories import create_project, create_release
from warehouse import db as database
from warehouse.packaging.models import Project, Release
from warehouse.scanning import holds
from warehouse.search import (
    ISearchService,
    PostgresSearchService,
    mark_project_changed,
    rebuild_all,
    reindex_project_in_session,
)
from warehouse.search.models import ProjectSearch


@pytest.fixture
def search(db_session) -> PostgresSearchService:
    return PostgresSearchService(db_session)


def names(results) -> list[str]:
    return [hit.name for hit in results.items]


def entry(db_session, normalized_name: str) -> ProjectSearch | None:
    db_session.expire_all()
    return db_session.scalar(
        sa.select(ProjectSearch).where(ProjectSearch.normalized_name == normalized_name)
    )


def test_provides_the_interface(search):
    assert ISearchService.providedBy(search)


# Matching and ranking -------------------------------------------------------------------


def test_exact_name_match_comes_first_even_when_others_rank_higher(db_session, search):
    # "httpx" is all over these projects' text, but the project named httpx must lead.
    for name in ("httpx-tools", "fast-httpx", "httpx-mock"):
        create_project(db_session, name, summary="httpx httpx httpx helpers for httpx")
    create_project(db_session, "HTTPX", summary="A next-generation HTTP client")
    results = search.search("httpx")
    assert results.items[0].name == "HTTPX"
    assert set(names(results)) == {"HTTPX", "httpx-tools", "fast-httpx", "httpx-mock"}


@pytest.mark.parametrize("query", ["Demo_Pkg", "demo.pkg", "DEMO-PKG"])
def test_exact_match_uses_the_normalized_name(db_session, search, query):
    create_project(db_session, "demo-pkg-extras", summary="demo pkg demo pkg")
    create_project(db_session, "Demo_Pkg", summary="Something else entirely")
    assert search.search(query).items[0].name == "Demo_Pkg"


@pytest.mark.parametrize("order", ["relevance", "-created", "created"])
def test_exact_match_is_first_in_every_order(db_session, search, order):
    create_project(db_session, "parser", summary="Parses things")
    create_project(db_session, "parser-tools", summary="Tools for parser, a parser")
    create_project(db_session, "yet-another-parser", summary="Another parser")
    assert search.search("parser", order=order).items[0].name == "parser"


@pytest.mark.parametrize("typo", ["reqeusts", "requets", "requestss"])
def test_typos_in_a_name_still_find_it(db_session, search, typo):
    create_project(db_session, "requests", summary="HTTP for Humans")
    create_project(db_session, "flask", summary="A micro web framework")
    assert names(search.search(typo)) == ["requests"]


def test_name_outranks_summary_outranks_keywords_outranks_description(db_session, search):
    create_project(db_session, "in-description", summary="x", description="about zebra things")
    create_project(db_session, "in-keywords", summary="x", keywords="zebra, stripes")
    create_project(db_session, "in-summary", summary="A zebra library")
    create_project(db_session, "zebra-lib", summary="x")
    assert names(search.search("zebra")) == [
        "zebra-lib",
        "in-summary",
        "in-keywords",
        "in-description",
    ]


def test_words_are_stemmed_and_all_required(db_session, search):
    create_project(db_session, "one", summary="Parsing configuration files")
    create_project(db_session, "two", summary="Parsing command lines")
    assert names(search.search("parse configuration")) == ["one"]
    assert set(names(search.search("parses"))) == {"one", "two"}


def test_name_parts_are_words(db_session, search):
    create_project(db_session, "zope.interface", summary="Interfaces for Python")
    create_project(db_session, "django-rest-framework", summary="Web APIs")
    assert names(search.search("interface")) == ["zope.interface"]
    assert names(search.search("rest framework")) == ["django-rest-framework"]


def test_hostile_or_odd_queries_are_just_text(db_session, search):
    create_project(db_session, "safe", summary="Nothing to see")
    for query in [
        "'; DROP TABLE projects; --",
        "a & b | !c",
        "(((",
        "\\",
        "%",
        "",
        "   ",
        "x" * 5000,
    ]:
        search.search(query)  # no error
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Project)) == 1


def test_an_empty_query_lists_everything_newest_first(db_session, search):
    for index, name in enumerate(["old", "middle", "new"]):
        project = create_project(db_session, name, versions=())
        create_release(db_session, project, "1.0", created=_day(index))
    results = search.search("")
    assert results.total == 3
    assert names(results) == ["new", "middle", "old"]


# Filters and ordering ---------------------------------------------------------------------


def test_classifier_filter_matches_exactly_or_by_prefix(db_session, search):
    create_project(db_session, "dj5", classifiers=["Framework :: Django :: 5.0"])
    create_project(db_session, "dj", classifiers=["Framework :: Django"])
    create_project(db_session, "djangoish", classifiers=["Framework :: Django CMS"])
    create_project(db_session, "fl", classifiers=["Framework :: Flask"])
    assert set(names(search.search("", classifiers=["Framework :: Django"]))) == {"dj5", "dj"}
    assert names(search.search("", classifiers=["Framework :: Django :: 5.0"])) == ["dj5"]
    assert len(search.search("", classifiers=["Framework"]).items) == 4


def test_several_classifier_filters_must_all_match(db_session, search):
    create_project(
        db_session,
        "both",
        classifiers=["Framework :: Django", "Programming Language :: Python :: 3.12"],
    )
    create_project(db_session, "one", classifiers=["Framework :: Django"])
    results = search.search(
        "", classifiers=["Framework :: Django", "Programming Language :: Python"]
    )
    assert names(results) == ["both"]
    # Prefixes are whole " :: " parts: "... :: 3" is not a prefix of "... :: 3.12".
    assert search.search("", classifiers=["Programming Language :: Python :: 3"]).total == 0


def test_classifier_filter_applies_to_the_exact_match_too(db_session, search):
    create_project(db_session, "thing", classifiers=["Framework :: Flask"])
    create_project(db_session, "thing-django", summary="thing", classifiers=["Framework :: Django"])
    assert names(search.search("thing", classifiers=["Framework :: Django"])) == ["thing-django"]


def test_orders_by_date_either_way(db_session, search):
    for index, name in enumerate(["alpha-widget", "beta-widget", "gamma-widget"]):
        project = create_project(db_session, name, versions=(), summary="widget")
        create_release(db_session, project, "1.0", summary="widget", created=_day(index))
    assert names(search.search("widget", order="-created")) == [
        "gamma-widget",
        "beta-widget",
        "alpha-widget",
    ]
    assert names(search.search("widget", order="created")) == [
        "alpha-widget",
        "beta-widget",
        "gamma-widget",
    ]
    assert len(search.search("widget", order="nonsense").items) == 3


def test_pagination(db_session, search):
    for index in range(25):
        project = create_project(db_session, f"pkg{index:02d}", versions=(), commit=False)
        create_release(
            db_session, project, "1.0", summary="common", created=_day(index), commit=False
        )
    db_session.commit()
    first = search.search("common", order="-created", page=1, per_page=10)
    third = search.search("common", order="-created", page=3, per_page=10)
    assert (first.total, first.page_count, first.has_next, first.has_previous) == (
        25,
        3,
        True,
        False,
    )
    assert names(first) == [f"pkg{i:02d}" for i in range(24, 14, -1)]
    assert names(third) == [f"pkg{i:02d}" for i in range(4, -1, -1)]
    assert (third.has_next, third.has_previous) == (False, True)
    beyond = search.search("common", page=9, per_page=10)
    assert (beyond.items, beyond.total) == ([], 25)
    assert search.search("common", page=-3, per_page=1000).page == 1


# What is indexed --------------------------------------------------------------------------


def test_the_entry_shows_the_newest_non_yanked_final_release(db_session):
    project = create_project(db_session, "shown", versions=["1.0", "2.0", "3.0b1"])
    assert entry(db_session, "shown").version == "2.0"
    release = db_session.scalar(sa.select(Release).where(Release.version == "2.0"))
    release.yanked = True
    db_session.commit()
    assert entry(db_session, "shown").version == "1.0"
    for release in project.releases:
        release.yanked = True
    db_session.commit()
    # All yanked: still final before pre-release.
    assert entry(db_session, "shown").version == "2.0"


def test_a_held_release_is_neither_shown_nor_searched_until_its_hold_is_lifted(db_session, search):
    project = create_project(db_session, "heldpkg", versions=["1.0"], summary="plain tools")
    newest = create_release(db_session, project, "2.0", summary="lurefreegift tools")
    only_held = create_project(db_session, "onlyheld", versions=["1.0"], summary="quiet")
    assert entry(db_session, "heldpkg").version == "2.0"
    assert names(search.search("lurefreegift")) == ["heldpkg"]

    hold, _ = holds.hold_release(db_session, project, newest, holds.REASON_MALICIOUS)
    holds.hold_release(db_session, only_held, only_held.releases[0], holds.REASON_MALICIOUS)
    db_session.commit()
    assert entry(db_session, "heldpkg").version == "1.0"
    assert names(search.search("lurefreegift")) == []
    assert entry(db_session, "onlyheld") is None
    rebuild_all(db_session)  # a full rebuild agrees with the incremental rewrite
    db_session.commit()
    assert entry(db_session, "heldpkg").version == "1.0"
    assert entry(db_session, "onlyheld") is None

    holds.lift_hold(db_session, hold, by="admin", reason="a false positive")
    db_session.commit()
    assert entry(db_session, "heldpkg").version == "2.0"
    assert names(search.search("lurefreegift")) == ["heldpkg"]


def test_entry_fields_and_weights(db_session):
    create_project(
        db_session,
        "Fields_Pkg",
        summary="Summary words",
        keywords="kw1, kw2",
        description="d" * 5000,
        classifiers=["Topic :: Utilities", "Framework :: Django :: 5.0"],
    )
    row = entry(db_session, "fields-pkg")
    assert (row.name, row.version, row.summary, row.keywords) == (
        "Fields_Pkg",
        "1.0",
        "Summary words",
        "kw1, kw2",
    )
    assert len(row.description) == 2000
    assert row.classifiers == ["Framework :: Django :: 5.0", "Topic :: Utilities"]
    assert set(row.classifier_prefixes) == {
        "Framework",
        "Framework :: Django",
        "Framework :: Django :: 5.0",
        "Topic",
        "Topic :: Utilities",
    }
    assert "'fields':1A" in row.document or "'field':1A" in row.document


# Kept current in the same transaction ------------------------------------------------------


def test_new_project_is_indexed_by_the_commit_that_creates_it(db_session):
    create_project(db_session, "fresh", commit=False)
    assert entry(db_session, "fresh") is None  # nothing until commit (see the hook)
    db_session.commit()
    assert entry(db_session, "fresh") is not None


def test_rollback_leaves_the_index_alone(db_session):
    create_project(db_session, "kept", summary="Original")
    release = db_session.scalar(sa.select(Release))
    release.summary = "Changed"
    db_session.flush()
    db_session.rollback()
    assert entry(db_session, "kept").summary == "Original"
    # And the rollback forgot the pending change: the next commit doesn't index it.
    db_session.commit()
    assert entry(db_session, "kept").summary == "Original"


def test_index_write_is_part_of_the_transaction(db_session):
    """If the commit fails after the index was written, the index write is undone too."""

    def fail(session):
        raise RuntimeError("commit refused")

    create_project(db_session, "doomed", commit=False)
    event.listen(db_session, "before_commit", fail)
    try:
        with pytest.raises(RuntimeError):
            db_session.commit()
    finally:
        event.remove(db_session, "before_commit", fail)
    db_session.rollback()
    assert entry(db_session, "doomed") is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Project)) == 0


def test_removing_the_last_release_or_the_project_removes_the_entry(db_session):
    project = create_project(db_session, "gone", versions=["1.0", "2.0"])
    other = create_project(db_session, "gone-too")
    release = db_session.scalar(
        sa.select(Release).where(Release.project_id == project.id, Release.version == "2.0")
    )
    db_session.delete(release)
    db_session.commit()
    assert entry(db_session, "gone").version == "1.0"
    db_session.delete(db_session.scalar(sa.select(Release).where(Release.project_id == project.id)))
    db_session.commit()
    assert entry(db_session, "gone") is None
    db_session.delete(other)
    db_session.commit()
    assert entry(db_session, "gone-too") is None


def test_rename_reindexes_under_the_new_name(db_session):
    project = create_project(db_session, "before")
    project.name, project.normalized_name = "After", "after"
    db_session.commit()
    assert entry(db_session, "before") is None
    assert entry(db_session, "after").name == "After"


def test_bare_sql_changes_need_marking(db_session):
    project = create_project(db_session, "marked", summary="Old")
    db_session.execute(sa.update(Release).values(summary="New"))
    db_session.commit()
    assert entry(db_session, "marked").summary == "Old"
    db_session.execute(sa.update(Release).values(summary="New"))
    mark_project_changed(db_session, project)
    db_session.commit()
    assert entry(db_session, "marked").summary == "New"
    db_session.execute(sa.update(Release).values(summary="Newer"))
    reindex_project_in_session(db_session, project)
    assert entry(db_session, "marked").summary == "Newer"  # before commit, same transaction
    db_session.commit()


def test_rebuild_all_and_service_methods(db_session, search):
    for name in ("a1", "b2", "c3"):
        create_project(db_session, name)
    db_session.execute(sa.delete(ProjectSearch))
    db_session.commit()
    assert search.search("").total == 0
    rebuild_all(db_session)
    db_session.commit()
    assert search.search("").total == 3
    search.remove_project("B2")
    db_session.commit()
    assert names(search.search("", order="created")) == ["a1", "c3"]
    search.index_project(db_session.scalar(sa.select(Project.id).where(Project.name == "b2")))
    db_session.commit()
    assert search.search("").total == 3


def _day(offset: int) -> datetime.datetime:
    return datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(days=offset)


def test_session_factory_sessions_get_the_hook(clean_database):
    # Any session the factory makes (CLI, workers), not only request sessions, keeps the
    # index current.
    with database.make_session_factory(clean_database)() as session:
        create_project(session, "from-cli")
        assert session.scalar(sa.select(ProjectSearch.name)) == "from-cli"


# Bounded work for common words ---------------------------------------------------------------


def _widgets(db_session, count: int, *, field: str) -> None:
    for index in range(count):
        project = create_project(db_session, f"w{index:02d}", versions=(), commit=False)
        text = {"summary": "x", "description": "x"}
        text[field] = "gizmo"
        create_release(db_session, project, "1.0", created=_day(index), commit=False, **text)
    db_session.commit()


def test_description_only_matches_follow_the_strong_ones_newest_first(db_session, search):
    create_project(db_session, "old-gizmo", versions=(), summary="x")
    create_release(
        db_session, db_session.scalar(sa.select(Project)), "1.0", summary="x", created=_day(-5)
    )
    project = create_project(db_session, "described", versions=())
    create_release(db_session, project, "1.0", summary="x", description="a gizmo", created=_day(9))
    project = create_project(db_session, "summarized", versions=())
    create_release(db_session, project, "1.0", summary="gizmo maker", created=_day(1))
    assert names(search.search("gizmo")) == ["old-gizmo", "summarized", "described"]


def test_every_match_is_on_exactly_one_page_across_the_bound(db_session, search):
    _widgets(db_session, 7, field="summary")
    for index in range(7, 12):
        project = create_project(db_session, f"d{index:02d}", versions=(), commit=False)
        create_release(
            db_session,
            project,
            "1.0",
            summary="x",
            description="gizmo",
            created=_day(index),
            commit=False,
        )
    db_session.commit()
    search.strong_candidates = 3  # only the 3 newest summary matches are ranked
    seen = []
    for page in range(1, 5):
        results = search.search("gizmo", page=page, per_page=4)
        assert results.total == 12
        seen += names(results)
    assert len(seen) == len(set(seen)) == 12
    # Ranked strong matches first, then everything else newest first.
    assert set(seen[:3]) == {"w04", "w05", "w06"}
    assert seen[3:] == ["d11", "d10", "d09", "d08", "d07", "w03", "w02", "w01", "w00"]


def test_totals_beyond_the_count_limit_are_a_lower_bound(db_session, search):
    _widgets(db_session, 6, field="description")
    search.count_limit = 4
    results = search.search("gizmo")
    assert (results.total, results.total_is_lower_bound) == (4, True)
    assert len(results.items) == 6
    assert search.search("").total_is_lower_bound
    search.count_limit = 100
    assert (search.search("gizmo").total, search.search("gizmo").total_is_lower_bound) == (6, False)


def test_similar_names_count_once_even_without_the_words(db_session, search):
    create_project(db_session, "requests", summary="HTTP for Humans")
    create_project(db_session, "reqeusts-helper", summary="Has the typo in its name")
    # "reqeusts" is in one document (a name); "requests" is only a similar name.
    for order in ("relevance", "-created", "created"):
        results = search.search("reqeusts", order=order)
        assert results.total == len(results.items) == 2
        assert set(names(results)) == {"requests", "reqeusts-helper"}


def test_similar_names_are_looked_for_only_when_the_words_are_rare(db_session, search):
    create_project(db_session, "flask", summary="A micro framework")
    create_project(db_session, "flasks", summary="Containers for flasks")  # a head match
    search.typo_threshold = 1
    # "flasks" is in a head: no typo hunt, so "flask" (similar, and stemmed the same) is
    # still found by its words, but a merely similar name would not be.
    assert set(names(search.search("flasks"))) == {"flask", "flasks"}
    create_project(db_session, "flaskz", summary="Unrelated")
    assert "flaskz" not in names(search.search("flasks"))
    search.typo_threshold = 20
    assert "flaskz" in names(search.search("flasks"))


def test_quoted_phrases_are_phrases_in_heads_and_words_in_descriptions(db_session, search):
    create_project(db_session, "exact-phrase", summary="A json parser")
    create_project(db_session, "scattered", summary="A parser for json and more")
    create_project(db_session, "described", summary="x", description="parser, also json")
    results = search.search('"json parser"')
    assert names(results)[0] == "exact-phrase"
    assert set(names(results)) == {"exact-phrase", "scattered", "described"}


def test_classifier_filters_with_odd_characters_are_just_values(db_session, search):
    create_project(db_session, "odd", classifiers=["Topic :: It's \\ odd"])
    create_project(db_session, "plain", classifiers=["Topic :: Plain"])
    assert names(search.search("odd", classifiers=["Topic :: It's \\ odd"])) == ["odd"]
    assert names(search.search("", classifiers=["Topic :: It's \\ odd"])) == ["odd"]
    assert search.search("odd", classifiers=["Topic :: It's"]).total == 0


def test_searching_leaves_the_planner_settings_as_they_were(db_session, search):
    create_project(db_session, "anything")
    search.search("anything")
    search.search("")
    assert db_session.scalar(sa.text("SELECT current_setting('enable_seqscan')")) == "on"
    assert db_session.scalar(sa.text("SELECT current_setting('jit')")) in {"on", "off"}
    db_session.execute(sa.text("SET LOCAL jit = off"))
    search.search("anything")
    assert db_session.scalar(sa.text("SELECT current_setting('jit')")) == "off"


def _many_entries(db_session, count: int) -> None:
    """``count`` projects and their search rows, written in bulk, with common words only."""
    db_session.execute(
        sa.text(
            "INSERT INTO projects (name, normalized_name, created, last_serial, total_size) "
            "SELECT 'bulk-' || g, 'bulk-' || g, now(), 0, 0 FROM generate_series(1, :n) g"
        ),
        {"n": count},
    )
    db_session.execute(
        sa.text(
            "INSERT INTO project_search (project_id, name, normalized_name, version, summary,"
            " keywords, description, classifiers, classifier_prefixes, created, head, document)"
            " SELECT p.id, p.name, p.normalized_name, '1.0', 'a tool', '', d, '{}', '{}',"
            "   now() - p.id * interval '1 minute',"
            "   to_tsvector('english', p.name || ' a tool'),"
            "   to_tsvector('english', p.name || ' a tool ' || d)"
            " FROM projects p, LATERAL (SELECT 'common words about cloud storage and http '"
            "   || (p.id % 97) AS d) words"
            " WHERE p.normalized_name LIKE 'bulk-%'"
        )
    )
    db_session.commit()
    db_session.execute(sa.text("ANALYZE project_search"))


def test_a_word_in_no_document_is_not_looked_for_by_walking_every_date(db_session, search):
    """PostgreSQL estimates a word it has no statistics for at a default share of the rows,
    so "newest 20 matches" looks cheapest as a walk down the date index, which then reads
    every row when the word is in none (6 s at 700,000 projects). The matches are counted
    first, and walked only when they are many."""
    _many_entries(db_session, 20_000)
    statements = []

    @event.listens_for(db_session.get_bind(), "before_cursor_execute")
    def keep(conn, cursor, statement, parameters, context, executemany):
        if "LIMIT" in statement and "ORDER BY" in statement and "EXPLAIN" not in statement:
            statements.append((statement, parameters))

    try:
        for order in ("relevance", "created"):
            results = search.search("qwertyuiop", order=order)
            assert (results.total, results.items) == (0, [])
    finally:
        event.remove(db_session.get_bind(), "before_cursor_execute", keep)
    pages = [(s, p) for s, p in statements if "s.document @@" in s]
    assert pages
    for statement, parameters in pages:
        cursor = db_session.connection().connection.driver_connection.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        [[plan]] = cursor.fetchall()
        removed = _rows_removed(plan[0]["Plan"])
        assert removed < 100, (removed, statement)
    # A common word is still found newest first.
    assert names(search.search("cloud", order="-created"))[:2] == ["bulk-1", "bulk-2"]


def _rows_removed(node: dict) -> int:
    """Rows that plan nodes read and then dropped by a filter, over the whole plan."""
    return node.get("Rows Removed by Filter", 0) + sum(
        _rows_removed(child) for child in node.get("Plans", ())
    )
