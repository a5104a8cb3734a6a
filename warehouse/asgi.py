"""The web app as gunicorn serves it: ``'warehouse.asgi:make_asgi_app()'`` in :class:`WebWorker`.

Installers wait on every simple page and metadata file in turn (uv resolves level by level),
so what a cached page costs the server is what they feel. gunicorn's threaded worker hands
every request from its event loop to a thread and back; on an asyncio loop a cached page is
answered where it was read (one keep-alive request here: 925 µs threaded, 571 µs on the loop,
nginx 300 µs; bench/RESULTS.md).

So this front answers the installers' reads on the loop when they need no waiting (see
:mod:`warehouse.nonblocking`: a page in the process's caches, a small local file), sends again
what it already answered to the same request while that still holds (:class:`_AnswerMemo`),
and runs everything else, and whatever would wait, through the WSGI application on a thread
pool. The site's code stays synchronous WSGI code; only the hot path meets the loop.

The uploads app stays a WSGI app on gunicorn's sync workers: ASGI has no room for a custom
reason phrase, and the upload API's errors are read from it (twine prints it).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

from uvicorn_worker import UvicornWorker

from warehouse import nonblocking
from warehouse.metrics import count_loop_read, observe_request

# Request bodies (forms, the odd upload) are read before the WSGI app runs; larger ones spill
# to a temporary file.
BODY_IN_MEMORY = 1024 * 1024
# The site's forms and the management API send kilobytes; distributions go to the uploads app
# (the CDN routes /legacy/ there). A larger body is refused before it fills the disk.
MAX_BODY = 16 * 1024 * 1024
_TOO_LARGE = (
    b"Request body too large for the web app. Upload distributions to /legacy/, which the"
    b" uploads app serves.\n"
)

_TOO_LARGE_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_TOO_LARGE)).encode()),
    (b"connection", b"close"),
]


class _BodyTooLarge(Exception):
    pass


class ASGIFront:
    def __init__(self, wsgi_app, threads: int, *, remember_answers: bool = True):
        #: The WSGI application (:class:`warehouse.api.fastpath.SimpleFastPath`).
        self.wsgi_app = wsgi_app
        self.registry = wsgi_app.registry
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        # Touched on the event loop only (one per process: gunicorn forks after loading).
        self.answers: _AnswerMemo | None = _AnswerMemo() if remember_answers else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    def pool(self) -> ThreadPoolExecutor:
        # Threads do not survive a fork: each gunicorn worker makes its own pool.
        if self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
            self._pool_pid = os.getpid()
        return self._pool

    async def _http(self, scope, receive, send) -> None:
        memo_key = _AnswerMemo.key(scope) if self.answers is not None else None
        if memo_key is not None:
            start = time.perf_counter()
            remembered = self.answers.get(memo_key)
            if remembered is not None:
                count_loop_read("loop")
                observe_request(
                    remembered.route,
                    scope["method"],
                    remembered.status,
                    time.perf_counter() - start,
                )
                await _send_whole(send, remembered.status, remembered.headers, remembered.body)
                return
        environ = wsgi_environ(scope)
        if self.wsgi_app.serves(environ):
            try:
                with nonblocking.on_loop():
                    answered = self._answer_on_loop(environ)
            except nonblocking.WouldBlock:
                answered = None
            count_loop_read("thread" if answered is None else "loop")
            if answered is not None:
                if memo_key is not None and answered.still_current is not None:
                    self.answers.put(memo_key, answered)
                await _send_whole(send, answered.status, answered.headers, answered.body)
                return
            # Afresh: WebOb leaves parsed state in the environ it was given.
            environ = wsgi_environ(scope)
        try:
            body = await _read_body(receive)
        except _BodyTooLarge:
            await _send_whole(send, 413, _TOO_LARGE_HEADERS, _TOO_LARGE)
            return
        if body is None:
            return  # the client left mid-body: a partial form must not be acted on
        environ["wsgi.input"] = body
        if "CONTENT_LENGTH" not in environ:
            # A chunked body, read whole: tell the app how long it turned out to be.
            environ["CONTENT_LENGTH"] = str(body.seek(0, io.SEEK_END))
            body.seek(0)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.pool(), _run_wsgi, self.wsgi_app, environ, send, loop)
        finally:
            body.close()

    def _answer_on_loop(self, environ) -> Answer | None:
        environ["wsgi.input"] = io.BytesIO()  # GET and HEAD: nothing to read
        response = self.wsgi_app.answer(environ)
        if response is None:
            return None
        route = getattr(response, "metrics_route", "")
        if isinstance(response.app_iter, list) and not 300 <= response.status_code < 400:
            # A body in memory and no Location to make absolute: what calling the WebOb
            # response would do, without the detour.
            head = environ["REQUEST_METHOD"] == "HEAD"
            body = b"" if head else b"".join(response.app_iter)
            # Only a 200 is sent again: other answers are per request (a 304, a 206) or rare.
            reusable = response.status_code == 200
            return Answer(
                response.status_code,
                _asgi_headers(response.headerlist),
                body,
                route,
                getattr(response, "still_current", None) if reusable else None,
            )
        collected = _Collector()
        result = response(environ, collected.start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return Answer(collected.status, collected.headers, body, route)


@dataclasses.dataclass(slots=True)
class Answer:
    """A response answered on the loop: what to send, and how to tell it is still the answer."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    #: The route it is counted under (warehouse_http_requests_total).
    route: str
    #: For a response that may be sent again to the same request: a cheap callable saying
    #: whether it still would be (the views set it; see _AnswerMemo).
    still_current: Callable[[], bool] | None = None


class _AnswerMemo:
    """Whole installer responses, sent again to the same request while they still hold.

    A cached simple page or metadata file costs the app a request object, content
    negotiation, a header list and a WebOb response, every time, for the same bytes. The
    views mark a response that can be reused with ``still_current``: a check that costs a
    dictionary lookup (the page's serial is still the one this process knows) or a stat (the
    file is still there, unchanged). Only unconditional GET and HEAD requests take part; the
    key holds everything about such a request that the answer depends on.
    """

    MAX_BYTES = 32 * 1024 * 1024
    MAX_ENTRIES = 16384
    # A request with any of these is answered by the views: 304s and ranges are per request.
    _PER_REQUEST = frozenset((b"if-none-match", b"if-modified-since", b"range", b"if-range"))

    def __init__(self):
        self._answers: collections.OrderedDict[tuple, Answer] = collections.OrderedDict()
        self._bytes = 0

    @classmethod
    def key(cls, scope) -> tuple | None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            return None
        host = accept = encoding = None
        for name, value in scope["headers"]:
            if name == b"host":
                if host is not None:
                    return None
                host = value
            elif name == b"accept":
                # Repeated, the views read every value joined: one alone must not name it.
                if accept is not None:
                    return None
                accept = value
            elif name == b"accept-encoding":
                # gzip or not (warehouse.compression): the same, repeated or not.
                if encoding is not None:
                    return None
                encoding = value
            elif name in cls._PER_REQUEST:
                return None
        return (
            method,
            scope.get("raw_path") or scope["path"],
            scope.get("query_string", b""),
            scope.get("scheme", "http"),
            scope.get("root_path", ""),
            scope.get("server"),
            host,
            accept,
            encoding,
        )

    def get(self, key) -> Answer | None:
        answer = self._answers.get(key)
        if answer is None:
            return None
        if not answer.still_current():
            self._drop(key)
            return None
        return answer

    def put(self, key, answer: Answer) -> None:
        if len(answer.body) > self.MAX_BYTES // 8:
            return
        self._drop(key)
        self._answers[key] = answer
        self._bytes += len(answer.body)
        while self._bytes > self.MAX_BYTES or len(self._answers) > self.MAX_ENTRIES:
            _, evicted = self._answers.popitem(last=False)
            self._bytes -= len(evicted.body)

    def _drop(self, key) -> None:
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)


async def _send_whole(send, status: int, headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Collector:
    def __init__(self):
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []

    def start_response(self, status: str, headers, exc_info=None):
        self.status = int(status[:3])
        self.headers = _asgi_headers(headers)
        return _no_write


# Most response headers repeat from one response to the next (the security headers, Vary,
# Cache-Control): their encoded form is remembered, up to a bound.
_ENCODED_HEADERS: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _asgi_headers(headers) -> list[tuple[bytes, bytes]]:
    encoded = []
    for name, value in headers:
        pair = _ENCODED_HEADERS.get((name, value))
        if pair is None:
            pair = (name.lower().encode("latin-1"), value.encode("latin-1"))
            if len(_ENCODED_HEADERS) > 4096:
                _ENCODED_HEADERS.clear()
            _ENCODED_HEADERS[name, value] = pair
        encoded.append(pair)
    return encoded


def _no_write(data: bytes) -> None:
    raise RuntimeError("the write() callable is not supported on the event loop")


def wsgi_environ(scope) -> dict:
    """The PEP 3333 environ for an ASGI HTTP scope (without ``wsgi.input``)."""
    raw_path = scope.get("raw_path")
    # WSGI wants the undecoded path as latin-1 text; percent-escapes decoded, bytes kept.
    path = (
        unquote_to_bytes(raw_path.split(b"?", 1)[0]).decode("latin-1")
        if raw_path
        else scope["path"].encode("utf-8").decode("latin-1")
    )
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    server = scope.get("server") or ("127.0.0.1", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root,
        "PATH_INFO": path,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        text = value.decode("latin-1")
        if key in environ:
            # Repeated headers are one comma-separated value in WSGI (Cookie uses "; ").
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
        environ[key] = text
    return environ


async def _read_body(receive):
    """The whole request body, rewound; None if the client disconnected before sending it.

    Raises ``_BodyTooLarge`` past ``MAX_BODY`` (nothing of it is kept).
    """
    body = tempfile.SpooledTemporaryFile(BODY_IN_MEMORY)
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            body.close()
            return None
        body.write(message.get("body", b""))
        if body.tell() > MAX_BODY:
            body.close()
            raise _BodyTooLarge
        more = message.get("more_body", False)
    body.seek(0)
    return body


def _run_wsgi(app, environ, send, loop) -> None:
    """Run the WSGI app on this (pool) thread, sending its response through the loop."""
    start: dict | None = None  # the response start, until it goes out with the first body
    headers_sent = False

    def start_response(status, headers, exc_info=None):
        nonlocal start
        if exc_info is not None and headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        start = {
            "type": "http.response.start",
            "status": int(status[:3]),
            "headers": _asgi_headers(headers),
        }
        return write

    def flush(body: bytes, more: bool) -> None:
        nonlocal start, headers_sent
        messages = [{"type": "http.response.body", "body": body, "more_body": more}]
        if start is not None:
            messages.insert(0, start)
            start, headers_sent = None, True
        asyncio.run_coroutine_threadsafe(_send_all(send, messages), loop).result()

    def write(data: bytes) -> None:
        if data:
            flush(data, True)

    result = app(environ, start_response)
    try:
        if isinstance(result, list | tuple):
            # The usual case (a WebOb body): headers and body in one trip to the loop.
            flush(b"".join(result), False)
        else:
            for chunk in result:
                if chunk:
                    flush(chunk, True)
            flush(b"", False)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


async def _send_all(send, messages) -> None:
    for message in messages:
        await send(message)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class WebWorker(UvicornWorker):
    """gunicorn's worker for the web app (``worker_class`` in ``config/gunicorn-web.conf.py``).

    gunicorn stays the process manager (its master, settings and hooks); each worker runs
    uvicorn's HTTP/1.1 protocol (httptools' C parser) on uvloop. An installer opens a dozen
    connections and sends a burst of small requests on each, and that protocol costs a
    fraction of gunicorn's own asgi worker per connection and per request (bench/RESULTS.md).
    """

    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        # The Server header advertises software and version to whoever asks.
        "server_header": False,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An access log only when gunicorn is given one: uvicorn would otherwise build a
        # log record for every request, for no handler to write.
        self.config.access_log = bool(self.cfg.accesslog)


def make_asgi_app(settings=None, threads: int | None = None) -> ASGIFront:
    """gunicorn's app factory: ``gunicorn -c config/gunicorn-web.conf.py 'warehouse.asgi:make_asgi_app()'``."""
    from warehouse.config import make_wsgi_app

    threads = threads or int(os.environ.get("WEB_THREADS", "8"))
    app = make_wsgi_app(settings)
    remember = app.registry.settings["warehouse"].answer_memo
    return ASGIFront(app, threads, remember_answers=remember)
