"""What the simple and JSON APIs share: file URLs, timestamps, headers, plain responses."""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
from urllib.parse import quote

import sqlalchemy as sa
from pyramid.response import Response

from warehouse.api.cache import PageCache
from warehouse.compression import identity_etag
from warehouse.packaging.models import Project

SURROGATE_CONTROL = "max-age=86400"
# A missing project may be uploaded any moment: clients ask again, while a CDN keeps the 404
# (Surrogate-Control) until the project's surrogate key is purged.
NOT_FOUND_CACHE_CONTROL = "no-cache"


def pages(request) -> PageCache:
    return request.registry["api.pages"]


def files_base(request) -> str:
    """Where file URLs point: the configured files origin, else this application."""
    configured = request.registry.settings["warehouse"].files_url
    if configured:
        return configured.rstrip("/")
    # WebOb rebuilds application_url from the environ on every call; installers ask with the
    # same few Host headers, so remember it (bounded: the Host header is the client's).
    environ = request.environ
    key = (
        environ["wsgi.url_scheme"],
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
        environ.get("SCRIPT_NAME", ""),
    )
    url = _APPLICATION_URLS.get(key)
    if url is None:
        if len(_APPLICATION_URLS) > 1024:
            _APPLICATION_URLS.clear()
        url = _APPLICATION_URLS[key] = request.application_url
    return url


_APPLICATION_URLS: dict[tuple, str] = {}


def base_tag(*urls: str) -> str:
    # Pages with absolute URLs differ by origin, so the origin is part of their cache key;
    # a short digest keeps client-chosen Host headers from making keys arbitrarily long.
    return hashlib.blake2b("\n".join(urls).encode(), digest_size=6).hexdigest()


def project_serial(normalized: str):
    """A ``read_serial`` for :meth:`PageCache.get`: the project's ``last_serial``, or None."""

    def read(session) -> int | None:
        return session.scalar(
            sa.select(Project.last_serial).where(
                Project.normalized_name == normalized,
                # A quarantined project reads as missing (its entry changed the serial).
                Project.lifecycle_status.is_(None),
            )
        )

    return read


def with_query(request, path: str) -> str:
    query = request.environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


# What quote(path, safe="/+") leaves as it is: a path of only these needs no quoting (nearly
# every stored path). quote() costs ~10 µs a call: a third of a 10,000-file page's render.
_NEEDS_NO_QUOTING = re.compile(r"[A-Za-z0-9_.~/+-]*")


def file_url(base: str, path: str) -> str:
    if _NEEDS_NO_QUOTING.fullmatch(path):
        return f"{base}/packages/{path}"
    return f"{base}/packages/{quote(path, safe='/+')}"


def iso_utc_text(column):
    """:func:`iso_utc`'s text, written by PostgreSQL: converting and formatting each file's
    time in Python was a tenth or more of a big project's page."""
    return sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


def iso_utc(moment: datetime.datetime) -> str:
    """``2024-01-01T00:00:00.123456Z``: always UTC, always microseconds (PEP 700)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dump_json(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def cache_control(request) -> str:
    return f"max-age={request.registry.settings['warehouse'].simple_cache_seconds}, public"


def etag_matches(request, etag: str) -> bool:
    header = request.environ.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    return header.strip() == "*" or any(
        identity_etag(tag.strip().removeprefix("W/")) == etag for tag in header.split(",")
    )


def page_response(request, body: bytes, headers: list[tuple[str, str]], etag: str) -> Response:
    """200 with ``body``, or 304 when the client already has this ETag."""
    headers.append(("ETag", etag))
    if etag_matches(request, etag):
        # A 304 has no body, so nothing that describes one.
        return Response(status=304, headerlist=[h for h in headers if h[0] != "Content-Type"])
    return Response(body=body, headerlist=headers)  # WebOb adds Content-Length


def still_current_while_serial(request, response: Response, serial_key: str, serial: int):
    """Mark ``response`` as the answer for as long as this process knows no newer serial.

    The web app's ASGI front sends such a response again to the same request without
    asking the views (see ``warehouse.asgi._AnswerMemo``).
    """
    response.still_current = functools.partial(_serial_is, pages(request).memo, serial_key, serial)
    return response


def _serial_is(memo, serial_key: str, serial: int) -> bool:
    return memo.get(serial_key) == serial


def text_response(status: int, message: str, headers: list[tuple[str, str]], content_type: str):
    body = message.encode()
    return Response(
        status=status,
        body=body,
        headerlist=[
            ("Content-Type", content_type),
            *headers,
        ],
    )


# What may stay as it is in a Location: URL syntax and escapes already made.
_LOCATION_SAFE = "!#$%&'()*+,/:;=?@[]~"


def redirect(location: str, headers: list[tuple[str, str]]) -> Response:
    # A name from the URL may hold any character; a header may hold only ASCII (latin-1 at
    # most), so the rest is percent-encoded as the client sent it.
    return Response(
        status=301,
        headerlist=[("Location", quote(location, safe=_LOCATION_SAFE)), *headers],
    )
