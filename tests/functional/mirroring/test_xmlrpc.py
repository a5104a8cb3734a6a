"""XML-RPC at /pypi and /RPC2: the methods mirrors and older tools call, and every way a
client can get a call wrong answered with a fault, never an HTTP error."""

from __future__ import annotations

import datetime
import xmlrpc.client

import pytest
import sqlalchemy as sa

from tests.functional.mirroring.conftest import XmlRpc, build_app
from tests.support.factories import create_project, create_release, yank
from warehouse.accounts.models import User
from warehouse.api.cache import INDEX_CONTENT_TTL
from warehouse.db import REDIS_INFO_KEY
from warehouse.packaging.models import JournalEntry, Project, Role
from warehouse.settings import RateLimit
from warehouse.xmlrpc.methods import CHANGELOG_LIMIT
from warehouse.xmlrpc.protocol import dumps_name_int_struct


def serials(db_session) -> list[int]:
    db_session.rollback()
    return list(db_session.scalars(sa.select(JournalEntry.id).order_by(JournalEntry.id)))


def add_user(db_session, name: str) -> User:
    user = User(username=name, password="not-a-hash")
    db_session.add(user)
    db_session.commit()
    return user


# Mirroring methods ------------------------------------------------------------------------


def test_changelog_last_serial(rpc, db_session):
    assert rpc.changelog_last_serial() == 0
    create_project(db_session, "alpha", versions=["1.0"])
    assert rpc.changelog_last_serial() == serials(db_session)[-1] == 4


def test_changelog_since_serial_gives_pypi_shaped_rows_in_order(rpc, db_session):
    create_project(db_session, "alpha", versions=["1.0"], files=("sdist",))
    create_project(db_session, "Beta", versions=["2.0"], files=())

    rows = rpc.changelog_since_serial(0)
    assert [row[4] for row in rows] == serials(db_session) == [1, 2, 3, 4, 5]
    name, version, timestamp, action, serial = rows[2]
    assert (name, version, action, serial) == ("alpha", "1.0", "add sdist file alpha-1.0.tar.gz", 3)
    assert isinstance(timestamp, int)
    assert abs(timestamp - datetime.datetime.now(datetime.UTC).timestamp()) < 60
    assert rows[0][:2] == ["alpha", None] and rows[0][3] == "create"
    assert rpc.changelog_since_serial(3) == rows[3:]
    assert rpc.changelog_since_serial(5) == []
    assert rpc.changelog_since_serial(-1) == rows


def test_changelog_since_serial_is_capped_at_50000_rows(rpc, db_session):
    extra = 7
    db_session.execute(
        sa.text(
            "INSERT INTO journals (id, name, version, action, submitted_date) "
            "SELECT n, 'p' || (n % 100), NULL, 'create', now() FROM generate_series(1, :n) n"
        ),
        {"n": CHANGELOG_LIMIT + extra},
    )
    db_session.commit()
    first = rpc.changelog_since_serial(0)
    assert len(first) == CHANGELOG_LIMIT
    assert [row[4] for row in first[:3]] == [1, 2, 3]
    assert first[-1][4] == CHANGELOG_LIMIT
    rest = rpc.changelog_since_serial(first[-1][4])
    assert [row[4] for row in rest] == list(range(CHANGELOG_LIMIT + 1, CHANGELOG_LIMIT + extra + 1))


def test_changelog_by_time_with_and_without_ids(rpc, db_session):
    create_project(db_session, "alpha", versions=["1.0"], files=())
    an_hour_ago = int(datetime.datetime.now(datetime.UTC).timestamp()) - 3600
    rows = rpc.changelog(an_hour_ago)
    assert [(r[0], r[3]) for r in rows] == [("alpha", "create"), ("alpha", "new release")]
    assert all(len(r) == 4 for r in rows)
    with_ids = rpc.changelog(an_hour_ago, True)
    assert [r[4] for r in with_ids] == [1, 2]
    assert rpc.changelog(an_hour_ago + 7200) == []


def test_list_packages_with_serial_follows_every_commit(rpc, db_session, redis_client):
    # Written as the app, the CLI and workers write: their sessions carry Redis, and the
    # reactions to each commit tell the readers the index changed.
    db_session.info[REDIS_INFO_KEY] = redis_client
    assert rpc.list_packages_with_serial() == {}
    alpha = create_project(db_session, "Alpha", versions=["1.0"], files=())
    create_project(db_session, "beta.two", versions=[], files=())
    listed = rpc.list_packages_with_serial()
    assert listed == {"Alpha": 2, "beta.two": 3}
    # Cached under the global serial, for minutes only: any change anywhere supersedes it,
    # and at PyPI's size each copy is 61 MB ...
    assert 0 < redis_client.ttl("xmlrpc:list_packages_with_serial:3") <= INDEX_CONTENT_TTL
    simple = rpc.app.get("/simple/alpha/")
    [project_page] = redis_client.keys("simple:alpha:*")
    assert simple.status_int == 200 and redis_client.ttl(project_page) > INDEX_CONTENT_TTL
    assert rpc.list_packages_with_serial() == listed
    # ... so the next commit is seen at once.
    create_release(db_session, alpha, "2.0", files=())
    assert rpc.list_packages_with_serial() == {"Alpha": 4, "beta.two": 3}


def test_list_packages_with_serial_written_by_postgresql_is_what_xmlrpc_client_writes(
    rpc, db_session, redis_client
):
    """PostgreSQL writes the answer (string_agg): byte for byte what xmlrpc.client makes of
    the same dict, in the rows' order; serials past 32 bits go through Python instead."""
    db_session.info[REDIS_INFO_KEY] = redis_client  # commits move the serial readers see
    for name in ("Alpha", "beta.two", "Gamma_3", "d-e-l-t-a", "Z"):
        create_project(db_session, name, versions=["1.0"], files=())

    def rows():
        db_session.rollback()
        query = "SELECT name, last_serial FROM projects WHERE lifecycle_status IS NULL"
        return db_session.execute(sa.text(query)).all()

    expected = xmlrpc.client.dumps(
        (dict(rows()),), methodresponse=True, allow_none=True, encoding="utf-8"
    ).encode()
    call = xmlrpc.client.dumps((), "list_packages_with_serial").encode()
    assert rpc.post(call).body == expected
    # Nothing listed is an empty struct (a new serial each time: a new answer).
    db_session.execute(sa.text("UPDATE projects SET lifecycle_status = 'archived'"))
    db_session.commit()
    create_project(db_session, "epsilon", versions=[], files=())
    db_session.execute(sa.text("UPDATE projects SET lifecycle_status = 'archived'"))
    db_session.commit()
    redis_client.flushdb()
    assert rpc.post(call).body == xmlrpc.client.dumps(({},), methodresponse=True).encode()

    db_session.execute(sa.text("UPDATE projects SET lifecycle_status = NULL"))
    db_session.execute(sa.text("UPDATE projects SET last_serial = 2147483648 WHERE name = 'Z'"))
    db_session.commit()
    create_project(db_session, "zeta", versions=[], files=())
    assert rpc.post(call).body == dumps_name_int_struct(rows())
    assert b"<name>Z</name>\n<value><double>2147483648.0</double>" in rpc.post(call).body


def test_list_packages_with_serial_uses_the_serial_in_redis(rpc, db_session, redis_client):
    create_project(db_session, "alpha", versions=[], files=())
    # Whatever is cached for the current serial is what is served: proof the cache is used.
    planted = xmlrpc.client.dumps(({"planted": 1},), methodresponse=True).encode()
    redis_client.set("xmlrpc:list_packages_with_serial:1", planted)
    assert rpc.list_packages_with_serial() == {"planted": 1}


def test_list_packages(rpc, db_session):
    for name in ("zeta", "Alpha", "mid_dle"):
        create_project(db_session, name, versions=[], files=())
    assert rpc.list_packages() == ["Alpha", "mid_dle", "zeta"]


# Project and release methods ------------------------------------------------------------


@pytest.fixture
def demo(db_session):
    project = create_project(
        db_session,
        "Demo_Pkg",
        versions=["1.0", "2.0", "3.0b1"],
        classifiers=["Programming Language :: Python :: 3", "License :: OSI Approved"],
        requires_dist=["requests>=2"],
        project_urls={"Source": "https://example.com/src"},
        description="Long\x0cdescription with a form feed & <markup>",
        requires_python=">=3.9",
    )
    return project


def test_package_releases(rpc, db_session, demo):
    assert rpc.package_releases("demo-pkg") == ["2.0"]
    assert rpc.package_releases("Demo_Pkg", True) == ["3.0b1", "2.0", "1.0"]
    yank(db_session, demo.releases[1])  # 2.0
    assert rpc.package_releases("demo-pkg", False) == ["1.0"]
    assert rpc.package_releases("nope") == []


def test_package_roles_and_user_packages(rpc, db_session, demo):
    alice, bob = add_user(db_session, "alice"), add_user(db_session, "bob")
    other = create_project(db_session, "other", versions=[], files=())
    db_session.add_all(
        [
            Role(user=bob, project=demo, role_name="Maintainer"),
            Role(user=alice, project=demo, role_name="Owner"),
            Role(user=bob, project=other, role_name="Owner"),
        ]
    )
    db_session.commit()
    assert rpc.package_roles("demo-pkg") == [["Owner", "alice"], ["Maintainer", "bob"]]
    assert rpc.package_roles("nope") == []
    assert rpc.user_packages("bob") == [["Maintainer", "Demo_Pkg"], ["Owner", "other"]]
    assert rpc.user_packages("BOB") == rpc.user_packages("bob")
    assert rpc.user_packages("nobody") == []


def test_release_urls(rpc, demo):
    files = rpc.release_urls("demo-pkg", "1.0")
    assert [f["filename"] for f in files] == [
        "demo_pkg-1.0-py3-none-any.whl",
        "demo_pkg-1.0.tar.gz",
    ]
    wheel = files[0]
    assert wheel["packagetype"] == "bdist_wheel"
    assert wheel["url"] == "http://localhost/packages/" + wheel["path"]
    assert set(wheel["digests"]) == {"md5", "sha256", "blake2b_256"}
    assert wheel["sha256_digest"] == wheel["digests"]["sha256"]
    assert isinstance(wheel["upload_time"], datetime.datetime)
    assert wheel["upload_time_iso_8601"].endswith("Z")
    assert (wheel["yanked"], wheel["has_sig"], wheel["downloads"]) == (False, False, -1)
    assert rpc.release_urls("demo-pkg", "1.0.0") == files  # the same version, spelled longer
    assert rpc.release_urls("demo-pkg", "9.9") == []
    assert rpc.release_urls("nope", "1.0") == []


def test_release_data(rpc, demo):
    data = rpc.release_data("DEMO-PKG", "2.0")
    assert (data["name"], data["version"]) == ("Demo_Pkg", "2.0")
    assert data["requires_dist"] == ["requests>=2"]
    assert data["classifiers"] == ["License :: OSI Approved", "Programming Language :: Python :: 3"]
    assert data["project_urls"] == ["Source, https://example.com/src"]
    assert data["requires_python"] == ">=3.9"
    # A character XML cannot carry is replaced; markup survives as text.
    assert data["description"] == "Long\ufffddescription with a form feed & <markup>"
    assert data["release_url"] == "http://localhost/project/Demo_Pkg/2.0/"
    assert data["stable_version"] == "" and data["docs_url"] is None
    assert rpc.release_data("demo-pkg", "9.9") == {}
    assert rpc.release_data("nope", "1.0") == {}


def test_browse(rpc, db_session, demo):
    create_project(db_session, "other", versions=["0.1"], classifiers=["License :: OSI Approved"])
    assert rpc.browse(["License :: OSI Approved"]) == [
        ["Demo_Pkg", "1.0"],
        ["Demo_Pkg", "2.0"],
        ["Demo_Pkg", "3.0b1"],
        ["other", "0.1"],
    ]
    both = ["License :: OSI Approved", "Programming Language :: Python :: 3"]
    assert [r[0] for r in rpc.browse(both)] == ["Demo_Pkg"] * 3
    assert rpc.browse(["Nope :: Nothing"]) == []
    assert rpc.browse([]) == []


# The endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/pypi", "/pypi/", "/RPC2"])
def test_every_endpoint_path_answers(webapp, db_session, path):
    create_project(db_session, "alpha", versions=[], files=())
    assert XmlRpc(webapp, path).changelog_last_serial() == 1


def test_get_is_not_allowed(webapp):
    response = webapp.get("/pypi", status=405)
    assert response.headers["Allow"] == "POST"


def test_unknown_method_is_a_fault_that_says_so(rpc):
    fault = rpc.raw("search", {"name": "x"})
    assert isinstance(fault, xmlrpc.client.Fault)
    assert fault.faultCode == -32601
    assert "'search' does not exist" in fault.faultString
    assert "changelog_since_serial" in fault.faultString  # and what does


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<methodCall><methodName>list_packages</methodName><params>",
        b"<methodCall><methodName>x</methodName><params><param><value><int>1.5</int>"
        b"</value></param></params></methodCall>",
        b"<methodCall><methodName>x</methodName><params><param><value><mystery>1</mystery>"
        b"</value></param></params></methodCall>",
        "<methodCall><methodName>\u00e9</methodName>".encode("latin-1"),
    ],
)
def test_malformed_xml_is_a_parse_fault(rpc, body):
    response = rpc.post(body)
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(response.body)
    assert fault.value.faultCode == -32700


def test_a_response_document_is_not_a_call(rpc):
    body = xmlrpc.client.dumps((1,), methodresponse=True).encode()
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(rpc.post(body).body)
    assert fault.value.faultCode == -32600


def test_dtd_and_entities_are_refused(rpc):
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
        b"<methodCall><methodName>list_packages</methodName></methodCall>"
    )
    with pytest.raises(xmlrpc.client.Fault, match="DTD"):
        xmlrpc.client.loads(rpc.post(body).body)


def test_oversized_request_is_a_fault(rpc):
    body = xmlrpc.client.dumps(("x" * 300_000,), "package_roles").encode()
    with pytest.raises(xmlrpc.client.Fault, match="too large"):
        xmlrpc.client.loads(rpc.post(body).body)


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (
            "changelog_since_serial",
            ("5",),
            "argument 1 (since_serial) must be an int, not a string",
        ),
        ("changelog_since_serial", (True,), "must be an int, not a boolean"),
        ("changelog_since_serial", (), "takes 1 argument, got 0"),
        ("changelog_since_serial", (1, 2), "takes 1 argument, got 2"),
        ("changelog_last_serial", (1,), "takes 0 arguments, got 1"),
        ("package_releases", ("x", "yes"), "argument 2 (show_hidden) must be a boolean"),
        ("package_releases", (), "takes 1 to 2 arguments, got 0"),
        ("release_urls", ("x", 1.0), "argument 2 (release_version) must be a string, not a double"),
        ("browse", ("License :: OSI Approved",), "must be an array of strings, not a string"),
        ("browse", ([1, 2],), "must be an array of strings, not an array"),
        ("user_packages", ({"a": 1},), "must be a string, not a struct"),
        ("changelog", (None,), "must be an int, not nil"),
    ],
)
def test_wrong_arguments_are_faults_that_say_what_is_wrong(rpc, method, params, message):
    fault = rpc.raw(method, *params)
    assert isinstance(fault, xmlrpc.client.Fault)
    assert fault.faultCode == -32602
    assert message in fault.faultString
    assert fault.faultString.startswith(method + "(")


def test_integer_booleans_are_accepted(rpc, db_session, demo):
    assert rpc.package_releases("demo-pkg", 1) == ["3.0b1", "2.0", "1.0"]


def test_rate_limit_per_client_answers_a_fault(settings, clean_database, redis_client):
    app = build_app(
        settings, clean_database, redis_client, **{"xmlrpc.ratelimit": RateLimit(3, 60)}
    )
    app.extra_environ = {"REMOTE_ADDR": "192.0.2.1"}
    client = XmlRpc(app)
    for _ in range(3):
        assert client.changelog_last_serial() == 0
    response = client.post(xmlrpc.client.dumps((), "changelog_last_serial").encode())
    assert response.status_int == 200 and int(response.headers["Retry-After"]) > 0
    with pytest.raises(xmlrpc.client.Fault, match="Too many requests"):
        xmlrpc.client.loads(response.body)
    # Another client is not affected.
    app.extra_environ = {"REMOTE_ADDR": "192.0.2.2"}
    assert client.changelog_last_serial() == 0


def test_internal_errors_are_faults_not_500s(rpc, db_session, monkeypatch):
    from warehouse.xmlrpc import methods

    def broken(call):
        raise RuntimeError("boom")

    monkeypatch.setitem(methods.METHODS, "list_packages", broken)
    fault = rpc.raw("list_packages")
    assert fault.faultCode == -32603 and "boom" not in fault.faultString


def test_renamed_and_deleted_projects_stay_in_the_changelog(rpc, db_session, demo):
    db_session.delete(db_session.scalar(sa.select(Project)))
    from warehouse.packaging import journal

    journal.record(db_session, "Demo_Pkg", journal.Action.REMOVE_PROJECT)
    db_session.commit()
    assert rpc.list_packages_with_serial() == {}
    last = rpc.changelog_since_serial(0)[-1]
    assert (last[0], last[3]) == ("Demo_Pkg", "remove project")


def _call_with_raw_int(method: str, digits: str) -> bytes:
    # xmlrpc.client refuses to write integers this large, other clients do not.
    return (
        f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>"
        f"<param><value><int>{digits}</int></value></param></params></methodCall>"
    ).encode()


@pytest.mark.parametrize("method", ["changelog_since_serial", "changelog"])
@pytest.mark.parametrize("digits", ["99999999999999999999999", "-99999999999999999999999"])
def test_integers_beyond_any_range_are_answered(rpc, db_session, method, digits):
    create_project(db_session, "alpha", versions=[], files=())
    ((result,), _) = xmlrpc.client.loads(rpc.post(_call_with_raw_int(method, digits)).body)
    assert len(result) == (0 if digits[0] == "9" else 1)
