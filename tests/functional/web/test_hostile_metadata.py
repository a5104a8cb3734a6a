"""Metadata written by an attacker must never become executable markup on any page.

Two routes in: a real upload (what the upload API lets through), and rows written directly
(what older code, a bug at upload time, or a looser sanitizer could leave in the database).
"""

from __future__ import annotations

import pytest

from tests.functional.test_upload import post_upload
from tests.functional.web.pages import Page, assert_inert
from tests.support.artifacts import make_wheel
from tests.support.factories import create_project

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>'

HOSTILE_DESCRIPTION = f"""
# Title

{XSS}

<a href="javascript:alert(3)">click</a>
<a href="https://ok.example/" onclick="alert(4)">fine link</a>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="password"></form>
<style>body {{ display: none }}</style>
<p style="position:fixed">styled</p>
<object data="https://evil.example/x.swf"></object>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<base href="https://evil.example/">
[md link](javascript:alert(5))
![img](javascript:alert(6))
"""

PAGES = ("/project/{name}/", "/project/{name}/{version}/", "/", "/search/?q={name}", "/user/alice/")


def visit_all(site, name: str, version: str) -> list[str]:
    bodies = []
    for template in PAGES:
        response = site.get(template.format(name=name, version=version))
        assert_inert(response.text)
        bodies.append(response.text)
    return bodies


def test_hostile_metadata_uploaded_through_the_api_stays_inert(site, auth_headers, tmp_path, user):
    wheel = make_wheel(
        tmp_path,
        "evil",
        "1.0",
        summary=XSS,
        metadata_extra={
            "Author": XSS,
            "Author-email": '"<img src=x onerror=alert(1)>" <evil@example.com>',
            "Maintainer": XSS,
            "Keywords": f"{XSS},other",
            "License": XSS,
            # The upload API refuses non-http(s) URLs; what it lets through is a label.
            "Project-URL": ["<script>alert(9)</script>, https://ok.example/"],
            "Description-Content-Type": "text/markdown",
            "Description": HOSTILE_DESCRIPTION,
        },
    )
    post_upload(site, wheel, auth_headers, name="evil", version="1.0")
    for body in visit_all(site, "evil", "1.0"):
        assert "<script>" not in body
        assert 'alert("x")' not in body or "&lt;script&gt;" in body

    page = Page(site.get("/project/evil/").text)
    # Text shows as text...
    assert '<script>alert("x")</script>' in page.text
    # ...the safe link survives, with nofollow, and no javascript:/data: href exists.
    assert page.find_all("a", href="https://ok.example/", rel="nofollow noopener")
    for href in page.hrefs():
        assert not href.lower().replace("\t", "").strip().startswith(("javascript", "data"))


@pytest.mark.parametrize(
    "description_html",
    [
        "<script>alert(1)</script><p>after</p>",
        '<p onclick="alert(1)">para</p>',
        '<a href="javascript:alert(1)">j</a>',
        '<a href="  jAvAsCrIpT:alert(1)">j</a>',
        '<img src="x" onerror="alert(1)">',
        '<iframe src="https://evil.example/"></iframe>',
        "<svg><script>alert(1)</script></svg>",
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        '<style>*{display:none}</style><p style="color:red">x</p>',
        '<form action="https://evil.example/"><button formaction="javascript:alert(1)">b</button></form>',
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        '<base href="https://evil.example/">',
        '<object data="x"></object><embed src="x">',
        '<div class="skip-link">spoof</div>',
        "<!--<script>alert(1)</script>-->",
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>',
    ],
)
def test_descriptions_are_cleaned_again_before_display(site, db_session, description_html):
    """Defence in depth: even HTML that bypassed upload-time sanitizing is made inert."""
    create_project(db_session, "stored", description_html=description_html)
    for template in PAGES[:2]:
        body = site.get(template.format(name="stored", version="1.0")).text
        assert_inert(body)
        assert "alert(1)" not in body or "&lt;" in body


def test_hostile_rows_in_every_field_stay_inert(site, db_session, user):
    project = create_project(
        db_session,
        "rows",
        summary=XSS,
        author=XSS,
        author_email='"<b>Evil</b>" <a@example.com>, b@example.com?subject=x, c@example.com>',
        maintainer=XSS,
        maintainer_email=XSS,
        keywords=XSS,
        license=XSS,
        license_expression=None,
        requires_python=XSS,
        home_page=" javascript:alert(1)",
        download_url="vbscript:msgbox(1)",
        yanked=True,
        yanked_reason=XSS,
        project_urls={XSS: "javascript:alert(1)", "ok": "https://ok.example/?q=<script>"},
        classifiers=[XSS, f"Framework :: {XSS}"],
        description_html=XSS,
    )
    from warehouse.packaging.models import Role, RoleName

    db_session.add(Role(user=user, project=project, role_name=RoleName.owner))
    db_session.commit()
    for body in visit_all(site, "rows", "1.0"):
        assert "<script>" not in body
    page = Page(site.get("/project/rows/").text)
    mailtos = [h for h in page.hrefs() if h.startswith("mailto:")]
    assert mailtos == ["mailto:a@example.com", "mailto:c@example.com"]  # not the "?subject" one
    assert page.find_all("a", href="https://ok.example/?q=<script>")  # attribute-escaped
    # The search page and the classifier links escape classifiers in URLs and text.
    search = site.get("/search/", {"q": XSS, "c": XSS}).text
    assert_inert(search)
    assert "<script>" not in search
