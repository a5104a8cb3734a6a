"""PyPI's JSON API: ``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json``.

Pages are cached by serial exactly like the simple pages (see :mod:`warehouse.api.cache`);
only the rare redirects and 404s inside an existing project are computed per request.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import orm

from warehouse.api.cache import project_serial_key
from warehouse.api.common import (
    NOT_FOUND_CACHE_CONTROL,
    SURROGATE_CONTROL,
    base_tag,
    cache_control,
    dump_json,
    file_url,
    files_base,
    iso_utc_text,
    page_response,
    pages,
    project_serial,
    redirect,
    text_response,
    with_query,
)
from warehouse.cdn.keys import JSON_FAMILY, project_key, stats_key
from warehouse.packaging.models import PROJECT_NAME_RE, DependencyKind, File, Project, Release
from warehouse.scanning.holds import served
from warehouse.upstreams.pages import upstream_of

CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET"),
    (
        "Access-Control-Allow-Headers",
        "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since",
    ),
    ("Access-Control-Max-Age", "86400"),
    ("Access-Control-Expose-Headers", "X-PyPI-Last-Serial"),
]
NO_DOWNLOAD_COUNTS = {"last_day": -1, "last_month": -1, "last_week": -1}
# The page is cached per serial, downloads change every minute: the cached page carries this
# placeholder, and each answer puts the project's current counts in its place.
_DOWNLOADS_PLACEHOLDER = b'"downloads":' + dump_json(NO_DOWNLOAD_COUNTS)


def _with_downloads(request, normalized: str, body: bytes) -> tuple[bytes, str]:
    """``body`` with the project's real download counts, and a tag of those counts."""
    from warehouse.stats.interfaces import IStatsService

    recent = request.find_service(IStatsService).recent(normalized)
    counts = {k: recent[k] for k in ("last_day", "last_month", "last_week")}
    body = body.replace(_DOWNLOADS_PLACEHOLDER, b'"downloads":' + dump_json(counts), 1)
    return body, "{last_day}.{last_week}.{last_month}".format(**counts)


@dataclasses.dataclass(frozen=True)
class _RedirectTo:
    version: str


_NOT_FOUND = object()


# Choosing releases ----------------------------------------------------------------------


def _latest(releases):
    """What ``pip install <name>`` would pick: the newest final release that isn't yanked,
    else the newest release that isn't yanked, else the newest release."""
    newest_first = sorted(releases, key=lambda r: r.sort_order, reverse=True)
    for acceptable in (lambda r: not r.yanked and not r.is_prerelease, lambda r: not r.yanked):
        for release in newest_first:
            if acceptable(release):
                return release
    return newest_first[0]


def _find_version(session, project_id: int, version: str) -> Release | _RedirectTo | None:
    # A release a scan holds reads as missing (warehouse.scanning.holds).
    release = session.scalar(
        sa.select(Release).where(
            Release.project_id == project_id, Release.version == version, served(Release.id)
        )
    )
    if release is not None:
        return release
    # 1.0.0 for 1.0, 1.0.POST1 for 1.0.post1: send the client to the version as published.
    try:
        canonical = canonicalize_version(version)
    except ValueError:
        return None
    published = session.scalar(
        sa.select(Release.version).where(
            Release.project_id == project_id,
            Release.canonical_version == canonical,
            served(Release.id),
        )
    )
    return _RedirectTo(published) if published is not None else None


# Rendering ------------------------------------------------------------------------------


def _files(release, files, base: str) -> list[dict]:
    """The entries of ``files`` (rows of _LISTED_FILE) of ``release`` (a :class:`Release` or a
    row of _LISTED_RELEASE)."""
    return [
        {
            "comment_text": "",
            # PEP 658/714 metadata, as on the simple pages (mirrors copy it when told).
            "core-metadata": {"sha256": f.metadata_sha256} if f.metadata_sha256 else False,
            "digests": {
                "blake2b_256": f.blake2_256_digest,
                "md5": f.md5_digest,
                "sha256": f.sha256_digest,
            },
            "downloads": -1,
            "filename": f.filename,
            "has_sig": False,
            "md5_digest": f.md5_digest,
            "packagetype": f.packagetype,
            "python_version": f.python_version,
            "requires_python": f.requires_python or release.requires_python or None,
            "size": f.size,
            "upload_time": f.upload_time_text,
            "upload_time_iso_8601": f.upload_time_iso,
            "url": file_url(base, f.path),
            "yanked": release.yanked,
            "yanked_reason": release.yanked_reason or None,
        }
        for f in files
    ]


# A project's page lists every file of every release, but shows one release's details: the
# listing is read as plain rows of the columns it shows (botocore: 5,000 releases, 10,000
# files), and only the shown release is loaded whole, descriptions and all.
_LISTED_RELEASE = (
    Release.id,
    Release.version,
    Release.sort_order,
    Release.yanked,
    Release.yanked_reason,
    Release.is_prerelease,
    Release.requires_python,
)
_LISTED_FILE = (
    File.release_id,
    File.filename,
    File.packagetype,
    File.python_version,
    File.requires_python,
    File.size,
    File.md5_digest,
    File.sha256_digest,
    File.blake2_256_digest,
    File.path,
    File.metadata_sha256,
    # Formatted by PostgreSQL: two strftime calls per file were a tenth of a big page's CPU.
    sa.func.to_char(sa.func.timezone("UTC", File.upload_time), 'YYYY-MM-DD"T"HH24:MI:SS').label(
        "upload_time_text"
    ),
    iso_utc_text(File.upload_time).label("upload_time_iso"),
)


def _listed_files(session, *where) -> dict[int, list]:
    rows = session.execute(
        sa.select(*_LISTED_FILE)
        .join(Release, Release.id == File.release_id)
        .where(*where)
        .order_by(File.release_id, File.filename)
    )
    by_release: dict[int, list] = {}
    for row in rows:
        by_release.setdefault(row.release_id, []).append(row)
    return by_release


def _info(project: Project, release: Release, app_url: str) -> dict:
    project_url = f"{app_url}/project/{project.name}/"
    requires_dist = release.dependencies_of(DependencyKind.requires_dist)
    return {
        "author": release.author,
        "author_email": release.author_email,
        "bugtrack_url": None,
        "classifiers": [c.classifier for c in release.classifiers],
        "description": release.description or "",
        "description_content_type": release.description_content_type,
        "docs_url": None,
        "download_url": release.download_url,
        "downloads": NO_DOWNLOAD_COUNTS,
        "dynamic": release.dynamic,
        "home_page": release.home_page,
        "keywords": release.keywords,
        "license": release.license,
        "license_expression": release.license_expression,
        "license_files": release.license_files,
        "maintainer": release.maintainer,
        "maintainer_email": release.maintainer_email,
        "name": project.name,
        "package_url": project_url,
        "platform": ", ".join(release.platform) if release.platform else None,
        "project_url": project_url,
        "project_urls": {u.label: u.url for u in release.urls} or None,
        "provides_extra": release.provides_extra,
        "release_url": f"{project_url}{release.version}/",
        "requires_dist": requires_dist or None,
        "requires_python": release.requires_python,
        "summary": release.summary,
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
    }


def _renderer(normalized: str, version: str | None, base: str, app_url: str):
    def render(session, serial: int):
        project = session.scalar(sa.select(Project).where(Project.normalized_name == normalized))
        if version is None:
            releases = session.execute(
                sa.select(*_LISTED_RELEASE)
                .where(Release.project_id == project.id, served(Release.id))
                .order_by(Release.sort_order)
            ).all()
            if not releases:
                return _NOT_FOUND
            files = _listed_files(session, Release.project_id == project.id, served(Release.id))
            release = session.get(
                Release, _latest(releases).id, options=[orm.defer(Release.description_html)]
            )
            shown_files = files.get(release.id, [])
        else:
            release = _find_version(session, project.id, version)
            if not isinstance(release, Release):
                return release or _NOT_FOUND
            shown_files = _listed_files(session, File.release_id == release.id).get(release.id, [])
        info = _info(project, release, app_url)
        origin = upstream_of(session, project.id)
        if origin is not None:
            # Mirrored from this upstream (warehouse.upstreams): its name here and its index.
            info["_upstream"] = origin.name
            info["_upstream_url"] = origin.public_url
        data = {
            "info": info,
            "last_serial": serial,
            "urls": _files(release, shown_files, base),
            "vulnerabilities": [],
        }
        if version is None:
            data["releases"] = {r.version: _files(r, files.get(r.id, ()), base) for r in releases}
        return dump_json(data)

    return render


# Views ----------------------------------------------------------------------------------


def _path(name: str, version: str | None, slash: str) -> str:
    middle = f"{name}/{version}" if version is not None else name
    return f"/pypi/{middle}/json{slash}"


def json_view(request):
    name = request.matchdict["name"]
    version = request.matchdict.get("version")
    slash = "/" if request.path_info.endswith("/") else ""
    normalized = canonicalize_name(name)
    common = [("Cache-Control", cache_control(request)), *CORS_HEADERS]
    if normalized != name:
        return redirect(with_query(request, _path(normalized, version, slash)), common)
    if not PROJECT_NAME_RE.match(normalized):
        # No project can ever have this name: nothing to purge it by, so no project key.
        body = dump_json({"message": "Not Found"}).decode()
        headers = [("Cache-Control", NOT_FOUND_CACHE_CONTROL), *CORS_HEADERS]
        return text_response(
            404, body, headers + [("Surrogate-Key", JSON_FAMILY)], "application/json"
        )

    base, app_url = files_base(request), request.application_url
    origin = base_tag(base, app_url)
    found = pages(request).get(
        project_serial_key(normalized),
        f"json:{normalized}:{version or ''}:{origin}",
        project_serial(normalized),
        _renderer(normalized, version, base, app_url),
    )
    if isinstance(found.other, _RedirectTo):
        return redirect(with_query(request, _path(normalized, found.other.version, slash)), common)
    surrogate = [
        # stats/: purged when new download counts land (info.downloads).
        ("Surrogate-Key", f"{project_key(normalized)} {JSON_FAMILY} {stats_key(normalized)}"),
        ("Surrogate-Control", SURROGATE_CONTROL),
    ]
    if found.body is None:
        body = dump_json({"message": "Not Found"}).decode()
        headers = [("Cache-Control", NOT_FOUND_CACHE_CONTROL), *CORS_HEADERS, *surrogate]
        return text_response(404, body, headers, "application/json")
    headers = [
        ("Content-Type", "application/json"),
        ("X-PyPI-Last-Serial", str(found.serial)),
        *common,
        *surrogate,
    ]
    body, counts = _with_downloads(request, normalized, found.body)
    # The body names absolute URLs, so the ETag differs by origin as the body does.
    return page_response(request, body, headers, f'"json-{found.serial}-{origin}-{counts}"')


def includeme(config) -> None:
    config.add_route("json.project", "/pypi/{name}/json")
    config.add_route("json.project_slash", "/pypi/{name}/json/")
    config.add_route("json.release", "/pypi/{name}/{version}/json")
    config.add_route("json.release_slash", "/pypi/{name}/{version}/json/")
    for route in ("json.project", "json.project_slash", "json.release", "json.release_slash"):
        config.add_view(json_view, route_name=route, request_method=("GET", "HEAD"))
