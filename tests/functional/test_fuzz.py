"""Property tests (Hypothesis) of every public API with hostile input: whatever a client sends,
the answer is a 4xx or a success, never a 500 and never an exception past the view.

Each test is bounded (a fixed number of examples, no deadline: the machine is shared) and
runs against the whole app on the real database, with one real project to aim at.
"""

from __future__ import annotations

import json
import string
import xmlrpc.client

import pytest
import webtest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.functional.test_upload import post_upload
from tests.support.artifacts import form_fields_for, make_wheel
from warehouse.config import configure, wsgi_app

# Function-scoped fixtures are shared by a test's examples on purpose: the app, the database
# and the project are the same for all of them, as they are for real clients.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

NAME = "fuzz-target"

# Characters a client can put in a URL path or a header: the printable ASCII range plus some
# encoded and non-ASCII text (WebOb decodes the path as UTF-8 / latin-1).
path_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40
)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
media_types = st.sampled_from(
    [
        "text/html",
        "application/json",
        "application/vnd.pypi.simple.v1+json",
        "application/vnd.pypi.simple.v1+html",
        "application/vnd.pypi.simple.latest+json",
        "application/vnd.pypi.simple.v2+json",
        "*/*",
        "text/*",
        "image/png",
        "",
    ]
)


@st.composite
def accept_headers(draw) -> str:
    """Valid, odd and broken Accept headers: q-values out of range, junk parameters."""
    if draw(st.booleans()):
        return draw(header_text)
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        media = draw(media_types)
        q = draw(st.one_of(st.none(), st.floats(-1, 2), st.text(string.printable, max_size=4)))
        parts.append(media if q is None else f"{media};q={q}")
    return ", ".join(parts)


def expected(response) -> None:
    assert response.status_int < 500, (response.status, response.text[:300])


@pytest.fixture
def app(settings, clean_database, redis_client):
    config = configure(settings, **{"db.engine": clean_database, "redis.client": redis_client})
    return webtest.TestApp(wsgi_app(config))


@pytest.fixture
def target(app, auth_headers, tmp_path):
    post_upload(app, make_wheel(tmp_path, NAME, "1.0"), auth_headers, name=NAME, version="1.0")
    return NAME


@FUZZ
@given(name=path_text, accept=accept_headers(), query=header_text)
# Found by this test: a letter whose upper case is ASCII passed the name check, and its
# surrogate key was not a valid header.
@example(name="ı", accept="", query="")
# And this: a query string whose percent-escapes are not UTF-8 was a 500.
@example(name="", accept="", query="%80")
def test_simple_pages_never_fail(app, target, name, accept, query):
    for path in (f"/simple/{name}/", f"/simple/{target}/", "/simple/"):
        response = app.get(
            _quote(path),
            params=query or None,
            headers={"Accept": accept},
            expect_errors=True,
        )
        expected(response)


@FUZZ
@given(name=path_text, version=path_text, accept=accept_headers())
def test_json_api_never_fails(app, target, name, version, accept):
    for path in (
        f"/pypi/{name}/json",
        f"/pypi/{target}/{version}/json",
        f"/pypi/{name}/{version}/json/",
    ):
        expected(app.get(_quote(path), headers={"Accept": accept}, expect_errors=True))


xmlrpc_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**31), 2**31 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.just(NAME),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=8,
)
xmlrpc_methods = st.one_of(
    st.sampled_from(
        [
            "list_packages",
            "list_packages_with_serial",
            "changelog_last_serial",
            "changelog_since_serial",
            "changelog",
            "package_releases",
            "release_urls",
            "release_data",
            "package_roles",
            "user_packages",
            "search",
            "browse",
            "system.multicall",
            "system.listMethods",
        ]
    ),
    st.text(max_size=20),
)


@FUZZ
@given(
    method=xmlrpc_methods,
    params=st.lists(xmlrpc_values, max_size=4),
    garbage=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_xmlrpc_never_fails(app, target, method, params, garbage):
    if garbage is not None:
        body = garbage
    else:
        try:
            body = xmlrpc.client.dumps(tuple(params), method, allow_none=True).encode()
        except (TypeError, OverflowError):
            return
    response = app.post("/pypi", body, headers={"Content-Type": "text/xml"}, expect_errors=True)
    expected(response)


form_values = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=300),
    st.sampled_from(["", "0", "-1", "1.0", "2.1", "2.4", "999", "sdist", "bdist_wheel", "py3"]),
)
upload_fields = st.sampled_from(
    [
        "name",
        "version",
        "metadata_version",
        "filetype",
        "pyversion",
        "summary",
        "description",
        "description_content_type",
        "requires_python",
        "requires_dist",
        "classifiers",
        "project_urls",
        "license_expression",
        "license_files",
        "sha256_digest",
        "md5_digest",
        "blake2_256_digest",
        "dynamic",
        "provides_extra",
        ":action",
        "protocol_version",
    ]
)


@FUZZ
@given(changes=st.dictionaries(upload_fields, st.lists(form_values, max_size=3), max_size=5))
def test_upload_form_never_fails(app, target, auth_headers, tmp_path_factory, changes):
    """A real wheel of the project with hostile metadata fields: refused with 400, never 500."""
    directory = tmp_path_factory.mktemp("fuzz-upload")
    wheel = make_wheel(directory, NAME, "2.0")
    fields = form_fields_for(wheel, NAME, "2.0")
    fields.update(changes)
    response = post_upload(
        app, wheel, auth_headers, name=NAME, version="2.0", fields=fields, status="*"
    )
    expected(response)


@FUZZ
@given(
    version=path_text,
    body=st.one_of(
        st.binary(max_size=100),
        st.builds(
            lambda value: json.dumps(value).encode(),
            st.one_of(
                st.dictionaries(st.just("reason"), xmlrpc_values, max_size=1),
                xmlrpc_values,
            ),
        ),
    ),
    verb=st.sampled_from(["yank", "unyank"]),
)
def test_management_api_never_fails(app, target, auth_headers, version, body, verb):
    for path, method in (
        (f"/api/projects/{target}/releases/{version}/{verb}", "POST"),
        (f"/api/projects/{target}/releases/1.0/{verb}", "POST"),
        (f"/api/projects/{target}/releases/{version}", "DELETE"),
        (f"/api/projects/{version}/collaborators", "GET"),
    ):
        response = app.request(
            _quote(path),
            method=method,
            body=body if method == "POST" else b"",
            headers={**auth_headers, "Content-Type": "application/json"},
            expect_errors=True,
        )
        expected(response)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
