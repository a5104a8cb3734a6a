"""Every page of the site through the whole app: status, content, redirects, errors, headers."""

from __future__ import annotations

import datetime
import re

import pytest
import sqlalchemy as sa

from tests.functional.web.conftest import DeliberateFailure
from tests.functional.web.pages import (
    Page,
    assert_inert,
    assert_looks_like_the_site,
    assert_security_headers,
)
from tests.support.factories import create_file, create_project, create_release
from warehouse.accounts.models import User
from warehouse.packaging.models import Release, Role, RoleName
from warehouse.web import queries
from warehouse.web.rendering import filesize


def _day(offset: int) -> datetime.datetime:
    return datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC) + datetime.timedelta(days=offset)


@pytest.fixture
def demo(db_session, user):
    """Demo_Pkg: 1.0, 1.1 (yanked), 2.0b1 (pre-release); alice owns it."""
    project = create_project(db_session, "Demo_Pkg", versions=(), commit=False)
    create_release(
        db_session,
        project,
        "1.0",
        created=_day(0),
        summary="A demonstration package",
        license="MIT",
        requires_python=">=3.9",
        author="Ada Lovelace",
        author_email="ada@example.com",
        maintainer_email="Grace Hopper <grace@example.org>",
        keywords="demo, example",
        description_html="<h1>Demo</h1><p>Readme <em>text</em>.</p>",
        home_page="https://demo.example/",
        project_urls={"Source": "https://git.example/demo", "Chat": "irc://irc.example/demo"},
        classifiers=["Framework :: Django :: 5.0", "Programming Language :: Python :: 3"],
        commit=False,
    )
    create_release(
        db_session,
        project,
        "1.1",
        created=_day(1),
        yanked=True,
        yanked_reason="Broke imports",
        commit=False,
    )
    create_release(db_session, project, "2.0b1", created=_day(2), commit=False)
    db_session.add(Role(user=user, project=project, role_name=RoleName.owner))
    db_session.commit()
    return project


# Home --------------------------------------------------------------------------------------


def test_home_has_search_counts_and_newest_releases(site, demo, make_user):
    make_user("bob")
    response = site.get("/")
    assert response.content_type == "text/html"
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    assert_security_headers(response)
    assert page.find_all("form", action="/search/", role="search")
    assert page.find_all("label", **{"for": "home-search-q"})
    text = page.text
    assert "1 projects" in text and "3 releases" in text and "6 files" in text
    assert "2 users" in text
    # Newest first, each linking to its project.
    assert text.index("2.0b1") < text.index("1.1") < text.index("1.0")
    assert "/project/Demo_Pkg/" in page.hrefs()
    assert page.find_all("a", href="/account/login/")
    assert page.find_all("a", href="/account/register/")


def test_home_on_an_empty_index(site):
    page = Page(site.get("/").text)
    assert "0 projects" in page.text
    assert "Nothing has been published yet." in page.text


def test_static_files_are_cached_long_and_addressed_by_content(site):
    page = Page(site.get("/").text)
    [stylesheet] = page.find_all("link", rel="stylesheet")
    href = stylesheet["href"]
    assert re.fullmatch(r"/static/site\.css\?h=[0-9a-f]{12}", href)
    response = site.get(href)
    assert response.content_type == "text/css"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert_security_headers(response)


def test_https_requests_get_strict_transport_security(site):
    response = site.get("/", extra_environ={"wsgi.url_scheme": "https"})
    assert_security_headers(response, https=True)


# Project pages -------------------------------------------------------------------------------


def test_project_page_shows_the_latest_final_release(site, demo):
    response = site.get("/project/Demo_Pkg/")
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    assert_security_headers(response)
    h1 = re.findall(r"<h1>(.*?)</h1>", response.text, re.S)[0]
    assert "Demo_Pkg 1.0" in h1
    text = page.text
    assert "A demonstration package" in text
    assert "pip install Demo_Pkg" in text
    assert page.find_all("title")  # the title element exists
    assert "<title>Demo_Pkg · Warehouse</title>" in response.text
    # The description, rendered at upload, is inserted as HTML.
    assert "<h1>Demo</h1><p>Readme <em>text</em>.</p>" in response.text


def test_project_page_sidebar(site, demo):
    page = Page(site.get("/project/Demo_Pkg/").text)
    text = page.text
    assert "MIT" in text and ">=3.9" in text
    assert page.find_all("a", href="mailto:ada@example.com")
    assert page.find_all("a", href="mailto:grace@example.org")
    assert "Ada Lovelace" in text and "Grace Hopper" in text
    assert "demo, example" in text
    assert page.find_all("a", href="https://demo.example/", rel="nofollow noopener")
    assert page.find_all("a", href="https://git.example/demo", rel="nofollow noopener")
    # Not http(s): shown, not linked.
    assert "irc://irc.example/demo" in text
    assert not [h for h in page.hrefs() if h.startswith("irc:")]
    assert page.find_all("a", href="/search/?c=Framework+%3A%3A+Django+%3A%3A+5.0")
    assert page.find_all("a", href="/user/alice/")
    assert "Owner" in text


def test_release_history_marks_yanked_and_prereleases(site, demo):
    response = site.get("/project/Demo_Pkg/")
    history = response.text.split('id="history-heading"')[1].split("</ul>")[0]
    items = re.findall(r"<li>(.*?)</li>", history, re.S)
    assert [re.search(r'class="version"[^>]*>([^<]+)<', i).group(1) for i in items] == [
        "2.0b1",
        "1.1",
        "1.0",
    ]
    assert "pre-release" in items[0] and "yanked" not in items[0]
    assert "yanked" in items[1] and "Broke imports" in items[1]
    assert "yanked" not in items[2] and "pre-release" not in items[2]
    assert 'aria-current="page"' in items[2]


def test_files_table_has_sizes_hashes_and_download_links(site, demo, db_session):
    release = db_session.scalar(sa.select(Release).where(Release.version == "1.0"))
    page = Page(site.get("/project/Demo_Pkg/").text)
    for file in release.files:
        assert page.find_all("a", href=f"/packages/{file.path}")
        assert file.filename in page.text
        for digest in (file.sha256_digest, file.md5_digest, file.blake2_256_digest):
            assert digest in page.text
    assert "bytes" in page.text
    assert "SHA256" in page.text and "MD5" in page.text and "BLAKE2b-256" in page.text


def test_file_links_use_the_files_origin_when_configured(make_site, demo, db_session):
    site = make_site(files_url="https://files.example/")
    release = db_session.scalar(sa.select(Release).where(Release.version == "1.0"))
    page = Page(site.get("/project/Demo_Pkg/").text)
    assert page.find_all("a", href=f"https://files.example/packages/{release.files[0].path}")


def test_file_sizes_are_human_readable(site, db_session):
    project = create_project(db_session, "big", files=())
    create_file(db_session, project.releases[0], content=b"x" * 1_536_000)
    assert "1.5 MB" in Page(site.get("/project/big/").text).text


@pytest.mark.parametrize("spelling", ["demo-pkg", "DEMO_PKG", "demo.pkg"])
def test_other_spellings_redirect_permanently_to_the_project_name(site, demo, spelling):
    response = site.get(f"/project/{spelling}/", status=301)
    assert response.location == "http://localhost/project/Demo_Pkg/"
    response = site.get(f"/project/{spelling}/2.0b1/", status=301)
    assert response.location == "http://localhost/project/Demo_Pkg/2.0b1/"


def test_release_page(site, demo):
    response = site.get("/project/Demo_Pkg/1.1/")
    page = assert_inert(response.text)
    text = page.text
    assert "Demo_Pkg 1.1" in text
    assert "This release has been yanked." in text and "Broke imports" in text
    assert "pip install Demo_Pkg==1.1" in text
    assert "The current version is 1.0" in text
    assert "<title>Demo_Pkg 1.1 · Warehouse</title>" in response.text
    assert page.find_all("link", rel="canonical", href="http://localhost/project/Demo_Pkg/1.1/")


def test_prerelease_page_is_marked(site, demo):
    text = Page(site.get("/project/Demo_Pkg/2.0b1/").text).text
    assert "Demo_Pkg 2.0b1 pre-release" in text


def test_release_page_for_another_spelling_of_the_version_redirects(site, demo):
    response = site.get("/project/Demo_Pkg/1.0.0/", status=301)
    assert response.location == "http://localhost/project/Demo_Pkg/1.0/"
    response = site.get("/project/Demo_Pkg/2.0.0beta1/", status=301)
    assert response.location == "http://localhost/project/Demo_Pkg/2.0b1/"


def test_project_with_only_prereleases_shows_the_newest(site, db_session):
    create_project(db_session, "early", versions=["0.1a1", "0.1b2"])
    assert "early 0.1b2" in Page(site.get("/project/early/").text).text


def test_unknown_project_and_version_are_404_pages(site, demo):
    for url in ("/project/nope/", "/project/Demo_Pkg/9.9/", "/project/nope/1.0/"):
        response = site.get(url, status=404)
        page = assert_inert(response.text)
        assert_looks_like_the_site(page)
        assert "We couldn't find this page" in page.text
        assert_security_headers(response)


def test_project_without_releases_is_not_found(site, db_session):
    create_project(db_session, "empty", versions=())
    site.get("/project/empty/", status=404)


def test_project_without_description_says_so(site, db_session):
    create_project(db_session, "plain")
    assert "has not provided a description" in Page(site.get("/project/plain/").text).text


# Users -------------------------------------------------------------------------------------------


def test_user_profile_lists_their_projects(site, demo, db_session, user):
    other = create_project(db_session, "Other_Thing", summary="Another one")
    db_session.add(Role(user=user, project=other, role_name=RoleName.maintainer))
    create_project(db_session, "not-alices")
    db_session.commit()
    response = site.get("/user/alice/")
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    assert "2 projects" in page.text
    assert "/project/Demo_Pkg/" in page.hrefs() and "/project/Other_Thing/" in page.hrefs()
    assert "/project/not-alices/" not in page.hrefs()
    assert "Another one" in page.text


def test_user_profile_redirects_to_the_username_spelling(site, user):
    response = site.get("/user/ALICE/", status=301)
    assert response.location == "http://localhost/user/alice/"


def test_unknown_or_inactive_user_is_404(site, db_session, make_user):
    site.get("/user/nobody/", status=404)
    bob = make_user("bob")
    db_session.execute(sa.update(User).where(User.id == bob.id).values(is_active=False))
    db_session.commit()
    site.get("/user/bob/", status=404)


def test_user_without_projects(site, user):
    assert "This user has no projects yet." in Page(site.get("/user/alice/").text).text


# Classifiers and help ----------------------------------------------------------------------------


def test_classifier_browser_links_each_classifier_to_its_search(site):
    response = site.get("/classifiers/")
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    hrefs = page.hrefs()
    assert "/search/?c=Framework" in hrefs
    assert "/search/?c=Framework+%3A%3A+Django" in hrefs
    assert "/search/?c=Development+Status+%3A%3A+5+-+Production%2FStable" in hrefs


HELP_ANCHORS = [
    "invalid-auth",
    "file-size-limit",
    "project-size-limit",
    "file-name-reuse",
    "project-name",
    "verified-email",
    "two-factor-authentication",
    "description-content-type",
]


def test_help_has_the_anchors_error_messages_point_to(site, settings):
    response = site.get("/help/")
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    ids = {attrs.get("id") for _, attrs in page.tags}
    for anchor in HELP_ANCHORS:
        assert anchor in ids
        assert f"#{anchor}" in page.hrefs()
    assert f"up to {filesize(settings.max_file_size)}" in page.text  # the configured limit


def test_upload_errors_point_at_existing_help_anchors():
    from warehouse.upload import services

    source = open(services.__file__).read()
    for anchor in re.findall(r'HELP\.format\("([a-z0-9-]+)"\)', source):
        assert anchor in HELP_ANCHORS


# Errors ------------------------------------------------------------------------------------------


def test_unknown_page_is_a_404_that_looks_like_the_site(site):
    response = site.get("/no/such/page/", status=404)
    assert response.content_type == "text/html"
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    assert "/no/such/page/" in page.text
    assert_security_headers(response)


def test_404_page_escapes_the_path(site):
    response = site.get("/%3Cscript%3Ealert(1)%3C/script%3E/", status=404)
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)" in response.text
    assert_inert(response.text)


def test_server_errors_render_the_500_page(site):
    response = site.get("/_test/boom/", status=500)
    page = assert_inert(response.text)
    assert_looks_like_the_site(page)
    assert "Something went wrong" in page.text
    assert "a view failed" not in response.text  # no internals leak
    assert_security_headers(response)


def test_clients_that_want_json_keep_plain_errors(site):
    response = site.get("/no/such/page/", headers={"Accept": "application/json"}, status=404)
    assert response.content_type == "application/json"
    # No page for them: the error goes on to the server, which answers its plain 500.
    with pytest.raises(DeliberateFailure):
        site.get("/_test/boom/", headers={"Accept": "application/json"})


def test_api_errors_are_left_as_they_are(site, auth_headers):
    response = site.get("/pypi/nope/json", status=404)
    assert response.content_type == "application/json"
    assert "couldn't find" not in response.text
    response = site.get("/simple/nope/", status=404)
    assert "couldn't find" not in response.text
    response = site.get("/pypi/a/b/c/d/", status=404)
    assert "couldn't find" not in response.text
    response = site.get("/packages/aa/bb/nothing.whl", status=404)
    assert response.text == "Not Found\n"
    response = site.post("/legacy/", {":action": "file_upload"}, headers=auth_headers, status=400)
    assert response.content_type == "text/plain"
    assert "does not have a file" in response.text


def test_api_responses_carry_the_security_headers_too(site, demo):
    for url in ("/simple/", "/simple/demo-pkg/", "/pypi/Demo_Pkg/json", "/_health/"):
        assert_security_headers(site.get(url))


def test_browsers_and_curl_get_the_html_404(site):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in (browser, "*/*"):
        response = site.get("/nowhere/", headers={"Accept": accept}, status=404)
        assert "We couldn't find this page" in response.text


def test_a_long_history_shows_the_newest_and_links_to_all(site, db_session):
    versions = [f"1.{n}" for n in range(queries.HISTORY_ON_PAGE + 5)]
    create_project(db_session, "prolific", versions=versions, files=())
    page = site.get("/project/prolific/").text
    history = page.split('id="history-heading"')[1].split("</section>")[0]
    shown = re.findall(r'class="version"[^>]*>([^<]+)<', history)
    assert len(shown) == queries.HISTORY_ON_PAGE
    assert shown[0] == versions[-1] and versions[0] not in shown
    assert f'href="/project/prolific/history/">All {len(versions)} releases' in history

    whole = site.get("/project/prolific/history/")
    listed = re.findall(r'class="version"[^>]*>([^<]+)<', whole.text)
    assert listed == versions[::-1]
    assert_inert(whole.text)


def test_a_short_history_has_no_link_to_more(site, demo):
    assert "/project/Demo_Pkg/history/" not in site.get("/project/Demo_Pkg/").text
    site.get("/project/nope/history/", status=404)
