"""The web app's ASGI front: installers' cached reads on the event loop, the rest on threads."""

from __future__ import annotations

import asyncio

import pytest
import webtest

from tests.support.factories import create_project, create_release
from tests.support.waiting import wait_for
from warehouse import asgi, nonblocking
from warehouse.api import invalidate_project
from warehouse.asgi import ASGIFront, wsgi_environ
from warehouse.config import wsgi_app
from warehouse.metrics import LOOP_READS
from warehouse.storage import views as storage_views

JSON = "application/vnd.pypi.simple.v1+json"


def scope_for(method: str, target: str, headers=(), scheme="http") -> dict:
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in with_host(headers)],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }


def with_host(headers):
    if any(name.lower() == "host" for name, _ in headers):
        return list(headers)
    return [("Host", "localhost"), *headers]


class Answer:
    def __init__(self, messages):
        start = messages[0]
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.bodies = [m["body"] for m in messages[1:]]
        self.body = b"".join(self.bodies)
        assert not messages[-1].get("more_body", False)


def call(app, method, target, headers=(), body_chunks=(b"",), scheme="http") -> Answer:
    async def run():
        incoming = [
            {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
            for i, chunk in enumerate(body_chunks)
        ]
        sent = []

        async def receive():
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await app(scope_for(method, target, headers, scheme), receive, send)
        return sent

    return Answer(asyncio.run(run()))


def loop_reads() -> dict[str, float]:
    return {where: LOOP_READS.labels(where)._value.get() for where in ("loop", "thread")}


@pytest.fixture
def wsgi(app_config):
    return wsgi_app(app_config)


@pytest.fixture
def front(wsgi):
    front = ASGIFront(wsgi, threads=2)
    yield front
    if front._pool is not None:
        front._pool.shutdown()


def warm(wsgi):
    memo = wsgi.registry["api.pages"].memo
    memo.get("start the listener")
    wait_for(lambda: memo._trusted, timeout=5)


def test_simple_pages_are_the_wsgi_apps_and_cached_ones_come_from_the_loop(front, wsgi, db_session):
    create_project(db_session, "Loop_Served", versions=["1.0", "2.0"])
    warm(wsgi)
    plain = webtest.TestApp(wsgi)
    for path, accept in [
        ("/simple/loop-served/", "text/html"),
        ("/simple/loop-served/", JSON),
    ]:
        expected = plain.get(path, headers={"Accept": accept})
        before = loop_reads()
        first = call(front, "GET", path, [("Accept", accept)])
        second = call(front, "GET", path, [("Accept", accept)])
        after = loop_reads()
        for answer in (first, second):
            assert answer.status == 200
            assert answer.body == expected.body
            for header in ("Content-Type", "ETag", "X-PyPI-Last-Serial", "Surrogate-Key"):
                assert answer.headers[header.lower()] == expected.headers[header]
            assert answer.headers["x-content-type-options"] == "nosniff"
        # The second request found the page in this process's memory.
        assert after["loop"] - before["loop"] >= 1
        assert after["loop"] + after["thread"] - before["loop"] - before["thread"] == 2


def test_the_root_listing_is_streamed_from_a_thread(front, wsgi, db_session):
    # The listing is not held in memory (warehouse.api.root_listing): every request reads it
    # from the database, so it is never answered on the loop, and it arrives in pieces.
    for n in range(3):
        create_project(db_session, f"listed-{n}")
    warm(wsgi)
    expected = webtest.TestApp(wsgi).get("/simple/", headers={"Accept": JSON})
    before = loop_reads()
    answer = call(front, "GET", "/simple/", [("Accept", JSON)])
    after = loop_reads()
    assert answer.status == 200 and answer.body == expected.body
    assert answer.headers["content-length"] == str(len(answer.body))
    assert after["thread"] - before["thread"] == 1 and after["loop"] == before["loop"]
    # The head, the one chunk, the tail, and the end of the body.
    assert len([body for body in answer.bodies if body]) >= 3


def test_on_the_loop_head_conditional_and_redirect_answers(front, wsgi, db_session):
    create_project(db_session, "loop-head", versions=["1.0"])
    warm(wsgi)
    get = call(front, "GET", "/simple/loop-head/")
    head = call(front, "HEAD", "/simple/loop-head/")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(get.body))
    etag = get.headers["etag"]
    assert call(front, "GET", "/simple/loop-head/", [("If-None-Match", etag)]).status == 304
    moved = call(front, "GET", "/simple/Loop_Head/?format=json")
    assert moved.status == 301
    # Made absolute, as WebOb does for the WSGI app.
    assert moved.headers["location"] == "http://localhost/simple/loop-head/?format=json"
    assert call(front, "GET", "/simple/no-such-project/").status == 404


def test_what_would_block_on_the_loop_is_answered_on_a_thread(front, db_session):
    create_project(db_session, "cold-page", versions=["1.0"])
    # A page no process has read yet needs Redis and the database.
    with nonblocking.on_loop(), pytest.raises(nonblocking.WouldBlock):
        front.wsgi_app.answer(wsgi_environ(scope_for("GET", "/simple/cold-page/")))
    before = loop_reads()
    answer = call(front, "GET", "/simple/cold-page/")
    assert answer.status == 200 and b"cold_page-1.0" in answer.body
    assert loop_reads()["thread"] == before["thread"] + 1


def test_small_files_on_the_loop_and_large_ones_streamed_from_a_thread(
    front, wsgi, tmp_path, monkeypatch
):
    storage = wsgi.registry["storage.instance"]
    monkeypatch.setattr(storage_views, "CHUNK", 1000)
    small_key = "aa/bb/" + "c" * 60 + "/small-1.0-py3-none-any.whl.metadata"
    large_key = "aa/bb/" + "d" * 60 + "/large-1.0-py3-none-any.whl"
    (tmp_path / "small").write_bytes(b"Metadata-Version: 2.1\n")
    large = bytes(range(256)) * (storage_views.ON_LOOP_MAX_BYTES // 256 + 10)
    (tmp_path / "large").write_bytes(large)
    storage.put(small_key, tmp_path / "small", content_type="text/plain")
    storage.put(large_key, tmp_path / "large", content_type="application/zip")

    before = loop_reads()
    small = call(front, "GET", f"/packages/{small_key}")
    assert small.body == b"Metadata-Version: 2.1\n"
    assert small.headers["content-length"] == "22"
    part = call(front, "GET", f"/packages/{small_key}", [("Range", "bytes=9-15")])
    assert part.status == 206 and part.body == b"Version"
    assert part.headers["content-range"] == "bytes 9-15/22"
    assert loop_reads()["loop"] == before["loop"] + 2

    whole = call(front, "GET", f"/packages/{large_key}")
    assert whole.status == 200 and whole.body == large
    assert len(whole.bodies) > 2  # sent as it was read, not gathered first
    assert loop_reads()["thread"] == before["thread"] + 1
    part = call(front, "GET", f"/packages/{large_key}", [("Range", "bytes=10-19")])
    assert part.status == 206 and part.body == large[10:20]
    assert call(front, "GET", "/packages/aa/bb/missing.whl").status == 404


def refuse_the_views(front, monkeypatch):
    """From here on, a request that reaches the views fails the test."""

    def refuse(environ):
        raise AssertionError(f"the views were asked for {environ['PATH_INFO']}")

    monkeypatch.setattr(front.wsgi_app, "answer", refuse)


def test_a_simple_page_is_sent_again_from_memory_until_its_serial_moves(
    front, wsgi, db_session, monkeypatch
):
    project = create_project(db_session, "remembered", versions=["1.0"])
    warm(wsgi)
    # Each twice: a page's first request is answered on a thread (it needs the database),
    # and only what the loop answers is remembered.
    for _ in range(2):
        html = call(front, "GET", "/simple/remembered/")
        json = call(front, "GET", "/simple/remembered/", [("Accept", JSON)])
        elsewhere = call(front, "GET", "/simple/remembered/", [("Host", "mirror.example")])
    answer_views = front.wsgi_app.answer
    refuse_the_views(front, monkeypatch)
    before = loop_reads()
    # The same requests again: answered without the views, byte for byte, each to its own
    # Accept and Host.
    assert call(front, "GET", "/simple/remembered/").body == html.body
    again = call(front, "GET", "/simple/remembered/", [("Accept", JSON)])
    assert (again.status, again.headers, again.body) == (json.status, json.headers, json.body)
    assert (
        b"mirror.example"
        in call(front, "GET", "/simple/remembered/", [("Host", "mirror.example")]).body
    )
    assert b"mirror.example" not in html.body and elsewhere.body != html.body
    assert loop_reads()["loop"] == before["loop"] + 3

    # A new release invalidates the project: the views answer again, with the new page.
    create_release(db_session, project, "2.0")
    invalidate_project(wsgi.registry["redis.client"], "remembered")
    monkeypatch.setattr(front.wsgi_app, "answer", answer_views)
    fresh = call(front, "GET", "/simple/remembered/")
    assert b"remembered-2.0" in fresh.body
    assert int(fresh.headers["x-pypi-last-serial"]) > int(html.headers["x-pypi-last-serial"])


def test_conditional_and_range_requests_and_other_answers_are_not_remembered(
    front, wsgi, db_session, monkeypatch
):
    create_project(db_session, "per-request", versions=["1.0"])
    warm(wsgi)
    call(front, "GET", "/simple/per-request/")
    page = call(front, "GET", "/simple/per-request/")
    calls = []
    answer_views = front.wsgi_app.answer

    def counting(environ):
        calls.append(environ["PATH_INFO"])
        return answer_views(environ)

    monkeypatch.setattr(front.wsgi_app, "answer", counting)
    etag = page.headers["etag"]

    def asks_the_views(method, path, headers=()):
        before = len(calls)
        answer = call(front, method, path, headers)
        return answer.status, len(calls) > before

    for _ in range(2):
        conditional = asks_the_views("GET", "/simple/per-request/", [("If-None-Match", etag)])
        assert conditional == (304, True)
        assert asks_the_views("GET", "/simple/Per_Request/") == (301, True)
        assert asks_the_views("GET", "/simple/no-such-thing/") == (404, True)
    # A repeated Accept header is read whole by the views: never remembered under one value.
    repeated = [("Accept", "text/html"), ("Accept", JSON)]
    for _ in range(2):
        assert asks_the_views("GET", "/simple/per-request/", repeated) == (200, True)
    # HEAD is remembered apart from GET: it has no body.
    assert asks_the_views("HEAD", "/simple/per-request/") == (200, True)
    assert asks_the_views("HEAD", "/simple/per-request/") == (200, False)
    assert call(front, "HEAD", "/simple/per-request/").body == b""
    assert asks_the_views("GET", "/simple/per-request/") == (200, False)


def test_a_file_is_sent_again_from_memory_while_it_is_unchanged(front, wsgi, tmp_path, monkeypatch):
    storage = wsgi.registry["storage.instance"]
    key = "ab/cd/" + "e" * 60 + "/kept-1.0-py3-none-any.whl.metadata"
    (tmp_path / "metadata").write_bytes(b"Metadata-Version: 2.1\nName: kept\n")
    storage.put(key, tmp_path / "metadata", content_type="text/plain")
    first = call(front, "GET", f"/packages/{key}")
    assert first.status == 200
    answer_views = front.wsgi_app.answer
    refuse_the_views(front, monkeypatch)
    again = call(front, "GET", f"/packages/{key}")
    assert (again.status, again.headers, again.body) == (first.status, first.headers, first.body)
    # A range is per request: the views answer it.
    with pytest.raises(AssertionError, match="the views were asked"):
        call(front, "GET", f"/packages/{key}", [("Range", "bytes=0-3")])

    # Deleted (a project owner removed the file): not found, not remembered bytes.
    monkeypatch.setattr(front.wsgi_app, "answer", answer_views)
    storage.delete(key)
    assert call(front, "GET", f"/packages/{key}").status == 404


def test_the_memory_of_answers_is_bounded(monkeypatch):
    memo = asgi._AnswerMemo()
    monkeypatch.setattr(asgi._AnswerMemo, "MAX_BYTES", 8000)
    for n in range(10):
        memo.put(("GET", n), asgi.Answer(200, [], b"x" * 1000, "r", lambda: True))
    assert memo.get(("GET", 0)) is None and memo.get(("GET", 9)) is not None
    assert memo._bytes <= 8000
    memo.put(("GET", "big"), asgi.Answer(200, [], b"x" * 1001, "r", lambda: True))
    assert memo.get(("GET", "big")) is None  # over an eighth of the bound: never kept
    stale = asgi.Answer(200, [], b"old", "r", lambda: False)
    memo.put(("GET", "stale"), stale)
    assert memo.get(("GET", "stale")) is None
    assert ("GET", "stale") not in memo._answers


def test_the_site_runs_on_threads(front):
    answer = call(front, "GET", "/_health/")
    assert answer.status == 200 and answer.body == b'{"status": "ok"}'
    assert call(front, "GET", "/account/login/").status == 200
    # A form posted without its CSRF token is refused by the app, not lost in the front.
    refused = call(front, "POST", "/account/login/", [("Content-Type", "text/plain")], [b"x=1"])
    assert refused.status in (400, 403)


class EchoApp:
    """A WSGI app that reports what it was given (for the bridge's own tests)."""

    registry = None

    def __init__(self, respond=None):
        self.respond = respond
        self.environ = None

    def serves(self, environ):
        return False  # nothing on the loop: every request crosses the bridge

    def __call__(self, environ, start_response):
        self.environ = environ
        body = environ["wsgi.input"].read()
        if self.respond is not None:
            return self.respond(environ, start_response)
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Echo", "yes")])
        return [b"got:", body]


def test_the_bridge_gives_the_wsgi_app_its_request():
    app = EchoApp()
    front = ASGIFront(app, threads=1)
    answer = call(
        front,
        "POST",
        "/a%20b/%E2%9C%93?x=1&y=%20",
        [
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X-Many", "1"),
            ("X-Many", "2"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "6"),
        ],
        [b"abc", b"def"],
        scheme="https",
    )
    assert answer.status == 201
    assert answer.headers["x-echo"] == "yes"
    assert answer.body == b"got:abcdef"
    environ = app.environ
    assert environ["PATH_INFO"] == "/a b/\u00e2\u009c\u0093"  # bytes as latin-1, per PEP 3333
    assert environ["QUERY_STRING"] == "x=1&y=%20"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_X_MANY"] == "1,2"
    assert environ["CONTENT_TYPE"] == "text/plain" and environ["CONTENT_LENGTH"] == "6"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    front._pool.shutdown()


def test_a_chunked_body_reaches_the_wsgi_app_with_its_length():
    app = EchoApp()
    front = ASGIFront(app, threads=1)
    answer = call(front, "POST", "/chunked", [("Transfer-Encoding", "chunked")], [b"ab", b"cd"])
    assert answer.body == b"got:abcd"
    assert app.environ["CONTENT_LENGTH"] == "4"
    front._pool.shutdown()


def test_a_body_cut_short_by_a_disconnect_never_reaches_the_wsgi_app():
    app = EchoApp()
    front = ASGIFront(app, threads=1)
    incoming = [
        {"type": "http.request", "body": b"username=al", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(front(scope_for("POST", "/form", [("Content-Length", "40")]), receive, send))
    assert app.environ is None and sent == []


def test_a_body_over_the_web_apps_limit_is_refused_before_the_app_runs(monkeypatch):
    monkeypatch.setattr(asgi, "MAX_BODY", 10)
    app = EchoApp()
    front = ASGIFront(app, threads=1)
    answer = call(front, "POST", "/legacy/", [("Content-Length", "12")], [b"abcdef", b"ghijkl"])
    assert answer.status == 413
    assert b"Upload distributions to /legacy/" in answer.body
    assert app.environ is None
    # At the limit, the body goes through.
    assert call(front, "POST", "/form", [], [b"abcde", b"fghij"]).body == b"got:abcdefghij"
    front._pool.shutdown()


def test_the_bridge_streams_generators_and_the_write_callable():
    def respond(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"early ")

        def chunks():
            yield b"one "
            yield b""
            yield b"two"

        return chunks()

    front = ASGIFront(EchoApp(respond), threads=1)
    answer = call(front, "GET", "/stream")
    assert answer.body == b"early one two"
    assert answer.bodies[:3] == [b"early ", b"one ", b"two"]
    front._pool.shutdown()


def test_an_error_in_the_wsgi_app_reaches_the_server():
    def respond(environ, start_response):
        raise RuntimeError("boom")

    front = ASGIFront(EchoApp(respond), threads=1)
    with pytest.raises(RuntimeError, match="boom"):
        call(front, "GET", "/")
    front._pool.shutdown()


def test_lifespan_is_acknowledged():
    async def run():
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent = []

        async def receive():
            return incoming.pop(0)

        async def send(message):
            sent.append(message["type"])

        await ASGIFront(EchoApp(), threads=1)({"type": "lifespan"}, receive, send)
        return sent

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_without_the_answer_memo_every_request_reaches_the_views(wsgi, db_session):
    # WAREHOUSE_ANSWER_MEMO=0 (to measure what the memo is worth): same answers, none kept.
    create_project(db_session, "Unremembered", versions=["1.0"])
    front = ASGIFront(wsgi, threads=1, remember_answers=False)
    try:
        first = call(front, "GET", "/simple/unremembered/", [("Accept", JSON)])
        second = call(front, "GET", "/simple/unremembered/", [("Accept", JSON)])
        assert first.status == second.status == 200 and first.body == second.body
        assert front.answers is None
    finally:
        if front._pool is not None:
            front._pool.shutdown()
