"""``/packages/<key>``: serves stored files. Hot path: no database, no sessions, no templates."""

from __future__ import annotations

import functools
import os
import re

import structlog
from pyramid.response import Response

from warehouse import nonblocking
from warehouse.cdn.keys import file_key
from warehouse.stats import origin as stats_origin
from warehouse.storage.interfaces import BlobNotFound
from warehouse.storage.keys import (
    METADATA_SUFFIX,
    content_type_for,
    parse_content_key,
    validate_key,
)
from warehouse.storage.local import RangeReader

log = structlog.get_logger(__name__)

CHUNK = 64 * 1024
# On the event loop (see warehouse.nonblocking) only small local files are read: a metadata
# sidecar is one page-cache read, but a large wheel belongs on a thread.
ON_LOOP_MAX_BYTES = 256 * 1024
# Filenames are never reused, so the bytes at a URL never change.
CACHE_FOREVER = "public, max-age=31536000, immutable"
SURROGATE_CONTROL = "max-age=31536000"
# A distribution served without its statistics headers (the database did not answer): the CDN
# fetches it again soon, so that it is tagged and its downloads counted once it does.
UNTAGGED_SURROGATE_CONTROL = "max-age=60"
_PREFIX = "/packages/"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class _Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` of a single-range ``Range`` header, or None to send it all.

    Raises ``_Unsatisfiable`` for a well-formed range that lies outside the file. Several ranges
    and headers we don't understand are answered with the whole file, as RFC 9110 allows.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None  # not a valid range: ignore the header
        if start >= size:
            raise _Unsatisfiable
        return start, min(int(last), size - 1) if last else size - 1
    if last:  # bytes=-n: the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix), size - 1
    return None  # "bytes=-"


def etag_for(key: str, size: int, mtime: float) -> str:
    parsed = parse_content_key(key)
    if parsed is not None:
        # The key names the content's hash: a strong validator at no cost.
        digest, filename = parsed
        return f'"{digest}-metadata"' if filename.endswith(METADATA_SUFFIX) else f'"{digest}"'
    return f'"{size:x}-{int(mtime * 1_000_000):x}"'


def file_headers(filename: str, etag: str, facts, untagged: bool = False) -> list:
    """A file's headers but its type and length: what the CDN keeps it by and logs of it."""
    headers = [
        ("ETag", etag),
        ("Cache-Control", CACHE_FOREVER),
        ("Accept-Ranges", "bytes"),
        # The sidecar shares its distribution's surrogate key, so one purge clears both.
        ("Surrogate-Key", file_key(filename.removesuffix(METADATA_SUFFIX))),
        # A CDN keeps the file until a purge of that key (the file was deleted).
        ("Surrogate-Control", UNTAGGED_SURROGATE_CONTROL if untagged else SURROGATE_CONTROL),
    ]
    if facts is not None:
        headers += facts.headers()
    return headers


def _matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class _Chunks:
    """A WSGI body that reads ``stream`` in chunks and closes it when the server is done."""

    def __init__(self, stream):
        self.stream = stream

    def __iter__(self):
        read = self.stream.read
        while chunk := read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.stream.close()


def _text(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = (message + "\n").encode()
    return Response(
        status=status,
        body=body,
        headerlist=[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            # Not cached: the file may be uploaded a moment later.
            ("Cache-Control", "no-store"),
            *(headers or []),
        ],
    )


def _unchanged(path: str, size: int, mtime: float) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == size and st.st_mtime == mtime


def _still_servable(blocklist, key: str, path: str, size: int, mtime: float) -> bool:
    if blocklist is not None and not blocklist.surely_allows(key):
        return False
    return _unchanged(path, size, mtime)


def _stores(registry) -> tuple:
    """Where to look, in order: the cache store, then the archive (if they differ)."""
    archive = registry["storage.instance"]
    cache = registry.get("storage.cache", archive)
    return (archive,) if cache is archive else (cache, archive)


def _locate(stores, key: str):
    """``(storage, open local stream or None, size, mtime)`` from the first store holding ``key``.

    A cache store that fails (rather than saying "not here") is passed over for the archive:
    downloads keep working while the cache is down.
    """
    for storage in stores:
        last = storage is stores[-1]
        stream = None
        try:
            # Local files are opened first and then fstat'ed: one open, size and bytes from
            # the same file, and a real file object for the server's sendfile fast path.
            if storage.is_local:
                stream = storage.open(key)
                st = os.fstat(stream.fileno())
                return storage, stream, st.st_size, st.st_mtime
            size, mtime = storage.stat(key)
            return storage, None, size, mtime
        except BlobNotFound:
            if last:
                raise
        except Exception:
            if stream is not None:
                stream.close()
            if last:
                raise
            log.warning("cache store failed; reading the archive", key=key, exc_info=True)
    raise BlobNotFound(key)


def _not_stored(request, key: str, on_loop: bool):
    """No store has ``key``: a file mirrored from an upstream is fetched now; else 404."""
    fetcher = request.registry.get("upstreams.fetcher")
    if fetcher is None or request.environ.get("warehouse.upstream_fetched"):
        return _text(404, "Not Found")
    if on_loop:
        raise nonblocking.WouldBlock  # the database and the upstream are both far away

    def serve_stored():
        request.environ["warehouse.upstream_fetched"] = True
        return download(request)

    response = fetcher.answer(request, key, serve_stored)
    return response if response is not None else _text(404, "Not Found")


def download(request):
    key = request.path_info[len(_PREFIX) :]
    # The stores includeme() registered. Read straight from the registry: pyramid_services'
    # find_service builds a per-request container, which cost more than the rest of this
    # view put together.
    stream = None  # closed on every path that doesn't hand it to the server
    # On the event loop only a small local file is served (read below in one call).
    on_loop = nonblocking.active()
    try:
        validate_key(key)
        # A quarantined project's files answer as if they were gone (warehouse.admin).
        blocklist = request.registry.get("admin.blocked_blobs")
        if blocklist is not None and blocklist.blocks(key):
            return _text(404, "Not Found")
        stores = _stores(request.registry)
        if on_loop and not all(s.is_local for s in stores):
            raise nonblocking.WouldBlock
        storage, stream, size, mtime = _locate(stores, key)
    except ValueError:
        return _text(404, "Not Found")
    except BlobNotFound:
        return _not_stored(request, key, on_loop)
    if on_loop and size > ON_LOOP_MAX_BYTES:
        stream.close()
        raise nonblocking.WouldBlock

    filename = key.rpartition("/")[2]
    # What the CDN logs for download statistics (it strips these headers before delivery).
    facts, untagged = None, False
    if not filename.endswith(METADATA_SUFFIX):
        facts = stats_origin.remembered(key)
        if facts is None:
            if on_loop:
                if stream is not None:
                    stream.close()
                raise nonblocking.WouldBlock
            try:
                facts = stats_origin.look_up_or_raise(request.registry["db.engine"], key)
            except stats_origin.FactsUnavailable:
                untagged = True
            except stats_origin.Withheld:
                if stream is not None:
                    stream.close()
                return _text(404, "Not Found")
    etag = etag_for(key, size, mtime)
    headers = file_headers(filename, etag, facts, untagged)
    try:
        environ = request.environ
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and _matches(if_none_match, etag):
            return Response(status=304, headerlist=headers)

        byte_range = None
        if_range = environ.get("HTTP_IF_RANGE")
        # If-Range: only send part of the file if it is still the one the client has.
        if if_range is None or if_range.strip() == etag:
            try:
                byte_range = parse_range(environ.get("HTTP_RANGE"), size)
            except _Unsatisfiable:
                return _text(416, "Range Not Satisfiable", [("Content-Range", f"bytes */{size}")])

        headers.append(("Content-Type", content_type_for(filename)))
        if byte_range is None:
            status, length = 200, size
        else:
            start, end = byte_range
            status, length = 206, end - start + 1
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        headers.append(("Content-Length", str(length)))

        if request.method == "HEAD":
            response = Response(status=status, headerlist=headers, app_iter=[])
        elif on_loop:
            if byte_range is not None:
                stream.seek(byte_range[0])
            response = Response(status=status, headerlist=headers, app_iter=[stream.read(length)])
        else:
            response = None
        if response is not None:
            if stream is not None and not untagged:
                # The same request may be answered again from memory while the file stays
                # as it is (see warehouse.asgi._AnswerMemo); keys never change content.
                response.still_current = functools.partial(
                    _still_servable, blocklist, key, stream.name, size, mtime
                )
            return response
        if stream is None:
            body = _Chunks(storage.open(key, byte_range))
        elif byte_range is None:
            # The server may send this with sendfile(2) (gunicorn does).
            file_wrapper = environ.get("wsgi.file_wrapper")
            body = file_wrapper(stream, CHUNK) if file_wrapper else _Chunks(stream)
        else:
            stream.seek(byte_range[0])
            body = _Chunks(RangeReader(stream, length))
        stream = None  # the server closes it now
    except BlobNotFound:
        # Deleted between the stat and the read.
        return _text(404, "Not Found")
    finally:
        if stream is not None:
            stream.close()
    return Response(status=status, headerlist=headers, app_iter=body)
