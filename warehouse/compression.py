"""gzip for text answers (simple pages, JSON, XML-RPC, the website), negotiated per request.

pip, uv, browsers and the CDN's fetches all send ``Accept-Encoding: gzip``; a simple page or a
JSON document shrinks five to ten times. A text answer always says ``Vary: Accept-Encoding``
(a cache must keep the two forms apart), and the gzipped form's ETag carries a suffix, so
that the two forms never pass for each other; a client revalidating either form gets its 304.

The ASGI front keeps answers it sends again per ``Accept-Encoding``, so a page is compressed
once per process and serial, not once per request. Distributions and their ``.metadata``
(``/packages/``) are sent as stored: archives do not shrink, and their ETags stay the blobs'.
"""

from __future__ import annotations

import gzip
import re

_TEXT = re.compile(r"^(text/|application/([a-z0-9.+-]*json|xml|javascript)|image/svg)")
GZIP_ETAG_SUFFIX = '-gzip"'
# Served from files (their ETags are the files'); the CDN compresses the static ones.
_UNTOUCHED_PREFIXES = ("/packages/", "/static/")


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding value allows gzip (named, or through ``*``, with q > 0)."""
    if not header:
        return False
    named = wildcard = None
    for part in header.split(","):
        coding, _, parameters = part.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named = _quality(parameters)
        elif coding == "*":
            wildcard = _quality(parameters)
    chosen = named if named is not None else wildcard
    return chosen is not None and chosen > 0


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def identity_etag(tag: str) -> str:
    """The ETag of the plain form, for an ETag a client got with either form."""
    return tag[: -len(GZIP_ETAG_SUFFIX)] + '"' if tag.endswith(GZIP_ETAG_SUFFIX) else tag


def compress(response, environ) -> None:
    """Gzip a WebOb ``response`` in place if it is text and the client accepts gzip."""
    if environ.get("PATH_INFO", "").startswith(_UNTOUCHED_PREFIXES):
        return
    if "no-transform" in (response.headers.get("Cache-Control") or ""):
        return
    not_modified = response.status_code == 304
    if not not_modified and (
        response.content_encoding
        or not isinstance(response.app_iter, list)
        or not _TEXT.match(response.headers.get("Content-Type") or "")
    ):
        return
    _vary_on_encoding(response)
    if not accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
        return
    etag = response.headers.get("ETag")
    if etag and etag.endswith('"') and not etag.endswith(GZIP_ETAG_SUFFIX):
        response.headers["ETag"] = etag[:-1] + GZIP_ETAG_SUFFIX
    if not_modified:
        return
    # mtime=0: the same page gives the same bytes in every process.
    response.body = gzip.compress(b"".join(response.app_iter), compresslevel=6, mtime=0)
    response.content_encoding = "gzip"


def _vary_on_encoding(response) -> None:
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Accept-Encoding"
    elif "accept-encoding" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Accept-Encoding"


def includeme(config) -> None:
    # Over everything but the security headers' tween (those are the same either way).
    config.add_tween("warehouse.compression.compression_tween_factory")


def compression_tween_factory(handler, registry):
    def compression_tween(request):
        response = handler(request)
        compress(response, request.environ)
        return response

    return compression_tween
