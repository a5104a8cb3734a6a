"""The simple API and downloads answered in front of Pyramid's router.

Installers make most of an index's requests, and a cached simple page or a stored file costs
less to serve than Pyramid spends building a request (it assembles a class per request for
the request properties that the rest of the site uses). So the WSGI application that gunicorn
serves first offers GET and HEAD under ``/simple`` to :func:`warehouse.api.simple.dispatch`,
and under ``/packages/`` to :func:`warehouse.storage.views.download`, with a plain WebOb
request, and hands everything else, and whatever ``dispatch`` declines, to the router.

This is the one way in: :func:`warehouse.config.wsgi_app` builds it for gunicorn and tests
alike, and the router has no view of its own for these URLs. Under gunicorn, the ASGI front
(:mod:`warehouse.asgi`) calls :meth:`SimpleFastPath.answer` on its event loop first, and the
whole application on a thread when the answer would block.
"""

from __future__ import annotations

import time
import urllib.parse

from webob import BaseRequest

from warehouse.api.common import text_response
from warehouse.api.simple import dispatch
from warehouse.compression import compress
from warehouse.headers import SECURITY_HEADERS, STRICT_TRANSPORT_SECURITY
from warehouse.metrics import observe_request
from warehouse.storage.views import download
from warehouse.unavailable import response_for

_PREFIXES = ("/simple", "/packages/")


class SimpleFastPath:
    def __init__(self, router):
        self.router = router
        # Code that reaches for the application's registry (gunicorn's post_fork) finds it.
        self.registry = router.registry
        self._request_class = type("SimpleRequest", (BaseRequest,), {"registry": router.registry})

    def __call__(self, environ, start_response):
        response = self.answer(environ)
        if response is not None:
            return response(environ, start_response)
        return self.router(environ, start_response)

    @staticmethod
    def serves(environ) -> bool:
        """Whether :meth:`answer` may answer this request (an installer's GET or HEAD)."""
        return environ["REQUEST_METHOD"] in ("GET", "HEAD") and environ.get(
            "PATH_INFO", ""
        ).startswith(_PREFIXES)

    def answer(self, environ):
        """The response to an installer's request, or None for the router to answer; for any
        request whose query string cannot be read, the 400 that says so (every request comes
        through here first, so no page has to guard its own parameters)."""
        refused = _unreadable_query(environ)
        if refused is not None:
            _add_security_headers(refused.headerlist, environ.get("wsgi.url_scheme") == "https")
            return refused
        if not self.serves(environ):
            return None
        path = environ["PATH_INFO"]
        if path.startswith("/simple"):
            handler = dispatch
            route = "simple.index" if path == "/simple/" else "simple.detail"
        else:
            handler, route = download, "packages"
        start = time.perf_counter()
        request = self._request_class(environ)
        try:
            response = handler(request)
        except Exception as exc:
            # The database or the file store down: a 503 that says so (a bug stays a 500).
            response = response_for(exc, path)
            if response is None:
                raise
        if response is not None:
            compress(response, environ)
            _add_security_headers(response.headerlist, request.scheme == "https")
            # The front counts answers it sends again from memory under the same route.
            response.metrics_route = route
            # Counted like the router's requests, under the route names it matches.
            observe_request(
                route,
                environ["REQUEST_METHOD"],
                response.status_code,
                time.perf_counter() - start,
            )
        return response


def _unreadable_query(environ):
    """A 400 for a query string whose bytes, unescaped, are not UTF-8 (``?q=%80``): WebOb
    raises ``UnicodeDecodeError`` on reading any parameter of it, on every page, a 500.
    The whole string is checked at once: UTF-8's multi-byte sequences hold no ASCII byte, so
    it is valid exactly when each name and value between ``&``, ``;`` and ``=`` is."""
    query = environ.get("QUERY_STRING", "")
    if query.isascii() and "%" not in query:
        return None
    try:
        urllib.parse.unquote_to_bytes(query.encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text_response(
            400, "The query string is not valid UTF-8.", [], "text/plain; charset=utf-8"
        )
    return None


_SECURITY_HEADERS = [(name.lower(), name, value) for name, value in SECURITY_HEADERS.items()]
_SECURITY_NAMES = {key for key, _, _ in _SECURITY_HEADERS} | {"strict-transport-security"}


def _add_security_headers(headerlist: list[tuple[str, str]], https: bool) -> None:
    # What the site's security-headers tween adds to every other response.
    present = {key for name, _ in headerlist if (key := name.lower()) in _SECURITY_NAMES}
    headerlist.extend((name, value) for key, name, value in _SECURITY_HEADERS if key not in present)
    if https and "strict-transport-security" not in present:
        headerlist.append(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
