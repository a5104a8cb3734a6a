"""``/search/`` through the whole app, and the index kept current by uploads."""

from __future__ import annotations

import datetime
import re

import sqlalchemy as sa

from tests.functional.test_upload import post_upload
from tests.functional.web.pages import Page, assert_inert, assert_looks_like_the_site
from tests.support.artifacts import make_sdist, make_wheel
from tests.support.factories import create_project, create_release
from warehouse.search.models import ProjectSearch


def result_names(html: str) -> list[str]:
    listing = html.split('class="search-results"')[1]
    return re.findall(r'class="package-name" href="/project/([^/]+)/"', listing)


def _day(offset: int) -> datetime.datetime:
    return datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(days=offset)


def test_search_page_lists_matches_with_a_count(site, db_session):
    create_project(db_session, "requests", summary="HTTP for Humans")
    create_project(db_session, "requests-mock", summary="Mock out responses from requests")
    create_project(db_session, "flask", summary="A micro web framework")
    response = site.get("/search/", {"q": "requests"})
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    assert result_names(response.text) == ["requests", "requests-mock"]
    assert "2 projects for “requests”" in page.text
    assert "HTTP for Humans" in page.text
    # The query is kept in the form, with a label for every input.
    assert page.find_all("input", id="search-q", value="requests")
    assert page.find_all("label", **{"for": "search-q"})
    assert page.find_all("label", **{"for": "search-o"})
    for _, attrs in page.tags:
        if _ in {"input", "select"} and attrs.get("type") not in {"hidden", "submit"}:
            assert page.find_all("label", **{"for": attrs["id"]}), attrs


def test_typo_finds_the_project(site, db_session):
    create_project(db_session, "requests", summary="HTTP for Humans")
    assert result_names(site.get("/search/?q=reqeusts").text) == ["requests"]


def test_nothing_found(site, db_session):
    create_project(db_session, "something")
    text = Page(site.get("/search/?q=zzzzqqq").text).text
    assert "0 projects" in text and "There were no results." in text


def test_classifier_filter_from_the_url_and_the_form(site, db_session):
    create_project(db_session, "dj", summary="web", classifiers=["Framework :: Django :: 5.0"])
    create_project(db_session, "fl", summary="web", classifiers=["Framework :: Flask"])
    response = site.get("/search/", {"q": "web", "c": "Framework :: Django"})
    assert result_names(response.text) == ["dj"]
    page = Page(response.text)
    # The active filter is a ticked checkbox that can be unticked.
    assert page.find_all("input", name="c", value="Framework :: Django", checked=None)
    # Other groups are offered, all in the one GET form.
    assert page.find_all("input", name="c", value="Framework :: Flask")
    assert page.find_all("input", name="c", value="Development Status :: 5 - Production/Stable")
    # Submitting the form as a browser would.
    form = site.get("/search/?q=web").forms[1]
    form["q"] = "web"
    for field in form.fields.get("c", []):
        if field._value == "Framework :: Flask":
            field.checked = True
    assert result_names(form.submit().text) == ["fl"]


def test_classifier_links_from_a_project_page_filter_search(site, db_session):
    create_project(db_session, "dj", classifiers=["Framework :: Django :: 5.0"])
    create_project(db_session, "other")
    project_page = site.get("/project/dj/")
    link = Page(project_page.text).find_all(
        "a", href="/search/?c=Framework+%3A%3A+Django+%3A%3A+5.0"
    )
    assert link
    assert result_names(site.get(link[0]["href"]).text) == ["dj"]


def test_ordering_and_pagination(site, db_session):
    for index in range(45):
        project = create_project(db_session, f"pkg{index:02d}", versions=(), commit=False)
        create_release(
            db_session, project, "1.0", summary="common words", created=_day(index), commit=False
        )
    db_session.commit()
    newest = site.get("/search/", {"q": "common", "o": "-created"})
    assert result_names(newest.text)[:3] == ["pkg44", "pkg43", "pkg42"]
    assert len(result_names(newest.text)) == 20
    text = Page(newest.text).text
    assert "45 projects" in text and "page 1 of 3" in text
    page = Page(newest.text)
    [next_link] = page.find_all("a", rel="next")
    assert next_link["href"] == "/search/?q=common&o=-created&page=2"
    assert page.find_all("span", **{"aria-current": "page"})
    last = site.get("/search/", {"q": "common", "o": "-created", "page": "3"})
    assert result_names(last.text) == [f"pkg{i:02d}" for i in range(4, -1, -1)]
    assert not Page(last.text).find_all("a", rel="next")
    oldest = site.get("/search/", {"q": "common", "o": "created"})
    assert result_names(oldest.text)[:2] == ["pkg00", "pkg01"]
    assert Page(oldest.text).find_all("option", value="created", selected=None)


def test_bad_parameters_fall_back_to_defaults(site, db_session):
    create_project(db_session, "one")
    for query in ("page=abc", "page=-5", "o=bogus", "page=99999999999999999999", "c=", "q="):
        response = site.get(f"/search/?{query}")
        assert result_names(response.text) == ["one"] or "page=9999" in query


def test_empty_search_lists_everything(site, db_session):
    create_project(db_session, "aaa")
    create_project(db_session, "bbb")
    response = site.get("/search/")
    assert sorted(result_names(response.text)) == ["aaa", "bbb"]
    assert "<title>Search projects · Warehouse</title>" in response.text


def test_query_is_escaped_everywhere(site):
    response = site.get("/search/", {"q": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in response.text
    assert_inert(response.text)


# The index follows uploads in the same transaction ---------------------------------------------


def test_an_upload_is_searchable_as_soon_as_it_is_accepted(
    site, auth_headers, tmp_path, db_session
):
    wheel = make_wheel(
        tmp_path,
        "Shiny_Thing",
        "1.0",
        summary="Polishes brass doorknobs",
        metadata_extra={"Keywords": "brass,doorknob", "Classifier": ["Topic :: Utilities"]},
    )
    post_upload(site, wheel, auth_headers, name="Shiny_Thing", version="1.0")
    # (twine sends the name as "Shiny-Thing", and that becomes the project's name.)
    # No after-commit task, no delay: the row was written by the upload's own transaction.
    assert result_names(site.get("/search/?q=doorknobs").text) == ["Shiny-Thing"]
    assert result_names(site.get("/search/?q=shiny-thing").text)[0] == "Shiny-Thing"
    assert result_names(site.get("/search/?c=Topic").text) == ["Shiny-Thing"]

    newer = make_wheel(tmp_path, "Shiny_Thing", "2.0", summary="Now also polishes silver")
    post_upload(site, newer, auth_headers, name="Shiny_Thing", version="2.0")
    db_session.expire_all()
    row = db_session.scalar(sa.select(ProjectSearch))
    assert (row.version, row.summary) == ("2.0", "Now also polishes silver")
    assert result_names(site.get("/search/?q=silver").text) == ["Shiny-Thing"]


def test_a_refused_upload_leaves_the_index_alone(site, auth_headers, tmp_path, db_session):
    wheel = make_wheel(tmp_path, "solid", "1.0", summary="First summary")
    post_upload(site, wheel, auth_headers, name="solid", version="1.0")
    # The same filename with other bytes is refused: the transaction is aborted.
    clash = make_sdist(tmp_path, "solid", "2.0", summary="Second summary")
    post_upload(site, clash, auth_headers, name="solid", version="2.0")
    again = make_sdist(
        tmp_path / "..", "solid", "2.0", summary="Third summary", filename=clash.name
    )
    post_upload(site, again, auth_headers, name="solid", version="2.0", status=400)
    db_session.expire_all()
    row = db_session.scalar(sa.select(ProjectSearch))
    assert (row.version, row.summary) == ("2.0", "Second summary")


def test_a_new_version_of_a_project_with_a_prerelease_keeps_the_final_shown(
    site, auth_headers, tmp_path
):
    post_upload(
        site, make_wheel(tmp_path, "steady", "1.0"), auth_headers, name="steady", version="1.0"
    )
    post_upload(
        site,
        make_wheel(tmp_path, "steady", "2.0rc1"),
        auth_headers,
        name="steady",
        version="2.0rc1",
    )
    text = site.get("/search/?q=steady").text
    assert 'steady</a>\n      <span class="muted">1.0</span>' in text


def test_large_totals_are_shown_as_at_least(site, db_session, monkeypatch):
    from warehouse.search.postgres import PostgresSearchService

    monkeypatch.setattr(PostgresSearchService, "count_limit", 2)
    for name in ("aa", "bb", "cc"):
        create_project(db_session, name, summary="shared words")
    text = Page(site.get("/search/?q=shared").text).text
    assert "2+ projects" in text
