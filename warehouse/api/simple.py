"""The simple repository API: PEP 503 HTML and PEP 691 JSON at api-version 1.3 (PEP 700).

Installers hit these pages more than anything else. A request normally costs two dictionary
lookups in the process (the project's current serial, then the page rendered at that serial),
at worst a Redis lookup or two; see :mod:`warehouse.api.cache`. Pages are rendered from plain
rows, not ORM objects, and answered by a tween ahead of Pyramid's routing.
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from pyramid.response import Response

from warehouse import nonblocking
from warehouse.api import negotiation, root_listing
from warehouse.api.cache import INDEX_SERIAL_KEY, project_serial_key
from warehouse.api.common import (
    NOT_FOUND_CACHE_CONTROL,
    SURROGATE_CONTROL,
    base_tag,
    cache_control,
    dump_json,
    etag_matches,
    file_url,
    files_base,
    iso_utc_text,
    page_response,
    pages,
    project_serial,
    redirect,
    still_current_while_serial,
    text_response,
    with_query,
)
from warehouse.cdn.keys import SIMPLE_FAMILY, SIMPLE_INDEX, SIMPLE_INDEX_SERIALS, project_key
from warehouse.compression import GZIP_ETAG_SUFFIX, accepts_gzip
from warehouse.packaging import journal
from warehouse.packaging.models import PROJECT_NAME_RE, File, Project, Release
from warehouse.scanning.holds import served
from warehouse.upstreams.pages import upstream_of

API_VERSION = "1.3"


class SimpleFile(NamedTuple):
    filename: str
    path: str
    sha256: str
    size: int
    upload_time: str  # PEP 700's form, as iso_utc writes it
    requires_python: str | None
    metadata_sha256: str | None
    yanked: bool
    yanked_reason: str


# Reading ---------------------------------------------------------------------------------


def _project_files(session, project_id: int) -> list[SimpleFile]:
    rows = session.execute(
        sa.select(
            File.filename,
            File.path,
            File.sha256_digest,
            File.size,
            iso_utc_text(File.upload_time),
            sa.func.coalesce(File.requires_python, Release.requires_python),
            File.metadata_sha256,
            Release.yanked,
            Release.yanked_reason,
        )
        .join(Release, File.release_id == Release.id)
        # A release a scan holds is not offered (warehouse.scanning.holds).
        .where(Release.project_id == project_id, served(Release.id))
        .order_by(Release.sort_order, File.filename)
    )
    return [SimpleFile(*row) for row in rows]


def _project_renderer(normalized: str, fmt: str, base: str):
    def render(session, serial: int) -> bytes:
        project_id, name = session.execute(
            sa.select(Project.id, Project.name).where(Project.normalized_name == normalized)
        ).one()
        files = _project_files(session, project_id)
        locations = _locations(session, project_id, normalized, base)
        if fmt == "json":
            versions = session.scalars(
                sa.select(Release.version)
                .where(Release.project_id == project_id, served(Release.id))
                .order_by(Release.sort_order)
            ).all()
            return render_project_json(normalized, serial, versions, files, base, locations)
        return render_project_html(name, files, base, locations)

    return render


class Locations(NamedTuple):
    """The upstream a mirrored project comes from; for a project both local and allowed
    from an upstream, PEP 708's tracked and alternate locations."""

    upstream: str
    tracks: list[str]
    alternates: list[str]


def _locations(session, project_id: int, normalized: str, base: str) -> Locations | None:
    # One primary-key lookup per render (not per request): pages are cached by serial.
    origin = upstream_of(session, project_id)
    if origin is None:
        return None
    if not origin.shared:
        return Locations(origin.name, [], [])
    theirs = f"{origin.url}{normalized}/"
    return Locations(origin.name, [theirs], [f"{base}/simple/{normalized}/", theirs])


def _render_index(fmt: str):
    def render(session, serial: int) -> bytes:
        rows = session.execute(
            sa.select(Project.name, Project.normalized_name, Project.last_serial)
            .where(Project.lifecycle_status.is_(None))
            .order_by(Project.normalized_name)
        ).all()
        if fmt == "json":
            return render_index_json(serial, rows)
        return render_index_html(rows)

    return render


# Rendering -------------------------------------------------------------------------------

_HTML_HEAD = (
    "<!DOCTYPE html>\n<html>\n  <head>\n"
    f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
    "    <title>{title}</title>\n  </head>\n  <body>\n"
)
_HTML_TAIL = "  </body>\n</html>\n"


def render_index_html(projects) -> bytes:
    parts = [_HTML_HEAD.format(title="Simple index")]
    parts.extend(
        f'    <a href="/simple/{escape(normalized)}/">{escape(name)}</a>\n'
        for name, normalized, _ in projects
    )
    parts.append(_HTML_TAIL)
    return "".join(parts).encode()


def render_index_json(serial: int, projects) -> bytes:
    return dump_json(
        {
            "meta": {"api-version": API_VERSION, "_last-serial": serial},
            "projects": [{"name": name, "_last-serial": last} for name, _, last in projects],
        }
    )


def render_project_html(
    name: str, files: list[SimpleFile], base: str, locations: Locations | None = None
) -> bytes:
    title = escape(f"Links for {name}")
    head = _HTML_HEAD.format(title=title)
    if locations is not None:
        metas = [f'    <meta name="warehouse:upstream" content="{escape(locations.upstream)}">\n']
        metas += [
            f'    <meta name="pypi:tracks" content="{escape(u)}">\n' for u in locations.tracks
        ]
        metas += [
            f'    <meta name="pypi:alternate-locations" content="{escape(u)}">\n'
            for u in locations.alternates
        ]
        head = head.replace("    <title>", "".join(metas) + "    <title>", 1)
    parts = [head, f"    <h1>{title}</h1>\n"]
    for f in files:
        attrs = f'href="{escape(file_url(base, f.path))}#sha256={f.sha256}"'
        if f.requires_python:
            attrs += f' data-requires-python="{escape(f.requires_python)}"'
        if f.metadata_sha256:
            # PEP 714 renamed the attribute; older pips only know the PEP 658 name.
            attrs += (
                f' data-dist-info-metadata="sha256={f.metadata_sha256}"'
                f' data-core-metadata="sha256={f.metadata_sha256}"'
            )
        if f.yanked:
            attrs += f' data-yanked="{escape(f.yanked_reason or "")}"'
        parts.append(f"    <a {attrs}>{escape(f.filename)}</a><br />\n")
    parts.append(_HTML_TAIL)
    return "".join(parts).encode()


def render_project_json(
    normalized: str,
    serial: int,
    versions: list[str],
    files: list[SimpleFile],
    base: str,
    locations: Locations | None = None,
) -> bytes:
    def describe(f: SimpleFile) -> dict:
        metadata = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
        return {
            "filename": f.filename,
            "url": file_url(base, f.path),
            "hashes": {"sha256": f.sha256},
            "requires-python": f.requires_python,
            "core-metadata": metadata,
            "dist-info-metadata": metadata,
            # PEP 691: a reason string, or true when there is none.
            "yanked": (f.yanked_reason or True) if f.yanked else False,
            "size": f.size,
            "upload-time": f.upload_time,
        }

    document = {
        "meta": {"api-version": API_VERSION, "_last-serial": serial},
        "name": normalized,
        "versions": versions,
        "files": [describe(f) for f in files],
    }
    if locations is not None:
        # PEP 691 leaves keys starting with "_" to the index.
        document["_upstream"] = locations.upstream
        if locations.tracks:
            document["tracks"] = locations.tracks
            document["alternate-locations"] = locations.alternates
    return dump_json(document)


# Responses -------------------------------------------------------------------------------


def _negotiate(request):
    """The representation to send, or a 406 response."""
    environ = request.environ
    format_param = request.GET.get("format") if environ.get("QUERY_STRING") else None
    if format_param:
        # An unescaped "+" in a query string means a space; media types have no spaces.
        format_param = format_param.replace(" ", "+")
    choice = negotiation.choose(environ.get("HTTP_ACCEPT"), format_param)
    if choice is None:
        return None, text_response(
            406,
            negotiation.not_acceptable_message(),
            [("Vary", "Accept")],
            "text/plain; charset=utf-8",
        )
    return choice, None


def _headers(request, choice, serial: int, surrogate_key: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", choice.content_type),
        ("Vary", "Accept"),
        ("X-PyPI-Last-Serial", str(serial)),
        ("Cache-Control", cache_control(request)),
        ("Surrogate-Key", surrogate_key),
        ("Surrogate-Control", SURROGATE_CONTROL),
    ]


def index_response(request):
    choice, refusal = _negotiate(request)
    if refusal is not None:
        return refusal
    surrogate_key = f"{SIMPLE_FAMILY} {SIMPLE_INDEX}"
    if choice.fmt == "json":
        surrogate_key += f" {SIMPLE_INDEX_SERIALS}"
    cache = pages(request)
    known = cache.memo.get(INDEX_SERIAL_KEY)
    if known is not None and etag_matches(request, _index_etag(choice, known)):
        headers = _headers(request, choice, known, surrogate_key)
        return page_response(request, b"", headers, _index_etag(choice, known))
    nonblocking.check()
    generation = cache.memo.generation
    gzipped = accepts_gzip(request.environ.get("HTTP_ACCEPT_ENCODING"))
    listing = root_listing.open_listing(cache.snapshot, choice.fmt, gzipped)
    if listing is None:
        return _rendered_index_response(request, choice, surrogate_key)
    cache.memo.remember(INDEX_SERIAL_KEY, listing.serial, generation, journal.last_serial)
    headers = _headers(request, choice, listing.serial, surrogate_key)
    etag = _index_etag(choice, listing.serial)
    if etag_matches(request, etag):
        listing.close()
        return page_response(request, b"", headers, etag)
    return _streamed(listing, headers, etag)


def _index_etag(choice, serial: int) -> str:
    return f'"{choice.fmt}-{serial}"'


def _streamed(listing, headers: list[tuple[str, str]], etag: str) -> Response:
    """The listing as it is read, compressed already if the client takes gzip: the same
    headers :func:`warehouse.compression.compress` gives a page in memory."""
    headers = [
        ("Vary", "Accept, Accept-Encoding") if name == "Vary" else (name, value)
        for name, value in headers
    ]
    if listing.gzipped:
        headers.append(("Content-Encoding", "gzip"))
        etag = etag[:-1] + GZIP_ETAG_SUFFIX
    headers.append(("ETag", etag))
    headers.append(("Content-Length", str(listing.content_length)))
    return Response(app_iter=listing, headerlist=headers)


def _rendered_index_response(request, choice, surrogate_key: str):
    """The listing rendered whole, while the chunks have not been built."""
    found = pages(request).get(
        INDEX_SERIAL_KEY,
        f"simple-index:{choice.fmt}",
        journal.last_serial,
        _render_index(choice.fmt),
    )
    headers = _headers(request, choice, found.serial, surrogate_key)
    response = page_response(request, found.body, headers, _index_etag(choice, found.serial))
    return still_current_while_serial(request, response, INDEX_SERIAL_KEY, found.serial)


def project_response(request, name: str):
    normalized = canonicalize_name(name)
    if normalized != name:
        return redirect(with_query(request, f"/simple/{normalized}/"), _redirect_headers(request))
    choice, refusal = _negotiate(request)
    if refusal is not None:
        return refusal
    if not PROJECT_NAME_RE.match(normalized):
        # No project can ever have this name: nothing to purge it by, so no project key.
        return _not_found(request, choice, SIMPLE_FAMILY)
    base = files_base(request)
    serial_key = project_serial_key(normalized)

    def find():
        return pages(request).get(
            serial_key,
            f"simple:{normalized}:{choice.fmt}:{base_tag(base)}",
            project_serial(normalized),
            _project_renderer(normalized, choice.fmt, base),
        )

    found = find()
    surrogate_key = f"{SIMPLE_FAMILY} {project_key(normalized)}"
    if found.serial is None and _fetched_from_upstream(request, normalized):
        found = find()
    if found.serial is None:
        return _not_found(request, choice, surrogate_key)
    headers = _headers(request, choice, found.serial, surrogate_key)
    response = page_response(request, found.body, headers, f'"{choice.fmt}-{found.serial}"')
    return still_current_while_serial(request, response, serial_key, found.serial)


def _fetched_from_upstream(request, normalized: str) -> bool:
    """A name not here may be an upstream's without serials (fetched on first request)."""
    on_demand = request.registry.get("upstreams.on_demand")
    if on_demand is None:
        return False
    nonblocking.check()  # the upstream is far away: on a thread, not the event loop
    return on_demand.fetch(normalized)


def _not_found(request, choice, surrogate_key: str):
    if choice.fmt == "json":
        body = dump_json({"message": "Not Found"}).decode()
    else:
        body = "<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n"
    headers = [
        ("Vary", "Accept"),
        ("Cache-Control", NOT_FOUND_CACHE_CONTROL),
        ("Surrogate-Key", surrogate_key),
        ("Surrogate-Control", SURROGATE_CONTROL),
    ]
    return text_response(404, body, headers, choice.content_type)


# Dispatch --------------------------------------------------------------------------------


def dispatch(request):
    """The response for a GET or HEAD under ``/simple``, or None if the path isn't ours."""
    path = request.path_info
    if path == "/simple/":
        return index_response(request)
    if path == "/simple":
        return redirect(with_query(request, "/simple/"), _redirect_headers(request))
    if not path.startswith("/simple/"):
        return None
    name, slash, rest = path[len("/simple/") :].partition("/")
    if rest or not name:
        return None
    if not slash:
        location = f"/simple/{canonicalize_name(name)}/"
        return redirect(with_query(request, location), _redirect_headers(request))
    return project_response(request, name)


def _redirect_headers(request):
    return [("Vary", "Accept"), ("Cache-Control", cache_control(request))]


def includeme(config) -> None:
    # The routes only name the URLs (for route_url): the pages are answered in front of the
    # router, by warehouse.api.fastpath, which calls dispatch().
    config.add_route("simple.index", "/simple/")
    config.add_route("simple.detail", "/simple/{name}/")
