"""``/project/<name>/`` and ``/project/<name>/<version>/``: a project and one of its releases."""

from __future__ import annotations

import dataclasses
from email.utils import getaddresses
from urllib.parse import quote

from pyramid.httpexceptions import HTTPMovedPermanently, HTTPNotFound
from pyramid.view import view_config

from warehouse.packaging.models import Project, Release
from warehouse.stats.interfaces import IStatsService
from warehouse.upstreams.pages import upstream_of
from warehouse.web import queries
from warehouse.web.sanitize import clean_description, safe_link

# A License field longer than this is a whole license text: the sidebar shows its first line.
LICENSE_DISPLAY_LENGTH = 100


@dataclasses.dataclass(frozen=True)
class Person:
    name: str | None
    email: str | None  # only addresses that are safe in a mailto: link


@dataclasses.dataclass(frozen=True)
class ProjectLink:
    label: str
    url: str
    href: str | None  # None: not http(s), shown as text only


@view_config(route_name="packaging.project", renderer="projects/detail.html", request_method="GET")
def project_detail(request):
    project = _project_or_404(request)
    release = queries.shown_release(request.db, project)
    if release is None:
        raise HTTPNotFound()
    return release_page(request, project, release, shown=release)


@view_config(route_name="packaging.release", renderer="projects/detail.html", request_method="GET")
def release_detail(request):
    project = _project_or_404(request)
    version = request.matchdict["version"]
    release = queries.find_release(request.db, project, version)
    if release is None:
        raise HTTPNotFound()
    if release.version != version:
        raise HTTPMovedPermanently(
            request.route_path("packaging.release", name=project.name, version=release.version)
        )
    return release_page(request, project, release)


@view_config(route_name="packaging.history", renderer="projects/history.html", request_method="GET")
def history_page(request):
    """Every release of the project, newest first: the project page shows only the newest."""
    project = _project_or_404(request)
    history, total = queries.release_history(request.db, project)
    if not total:
        raise HTTPNotFound()
    return {"project": project, "releases": history}


def _project_or_404(request) -> Project:
    name = request.matchdict["name"]
    project = queries.find_project(request.db, name)
    if project is None or project.quarantined:
        raise HTTPNotFound()
    if project.name != name:
        # One URL per project, the one the APIs link to, so links and caches agree.
        raise HTTPMovedPermanently(
            request.current_route_path(name=project.name, _query=request.GET)
        )
    return project


def release_page(
    request,
    project: Project,
    summary: queries.ReleaseSummary,
    shown: queries.ReleaseSummary | None = None,
) -> dict:
    release = queries.load_release_details(request.db, summary.id)
    shown = shown or queries.shown_release(request.db, project)
    history, releases_in_all = queries.release_history(
        request.db, project, limit=queries.HISTORY_ON_PAGE
    )
    return {
        "project": project,
        "release": release,
        "is_shown_release": release.id == shown.id,
        "shown_release": shown,
        "releases": history,
        "releases_in_all": releases_in_all,
        "description": clean_description(release.description_html),
        "license": license_text(release),
        "authors": people(release.author, release.author_email),
        "maintainers_meta": people(release.maintainer, release.maintainer_email),
        "keywords": keyword_list(release.keywords),
        "links": project_links(release),
        "maintainers": queries.maintainers(request.db, project),
        "downloads": request.find_service(IStatsService).recent(project.normalized_name),
        # Mirrored from another index (warehouse.upstreams): the page says which.
        "upstream": upstream_of(request.db, project.id),
        "files": [(file, file_url(files_base_url(request), file.path)) for file in release.files],
    }


def files_base_url(request) -> str:
    """Where ``/packages/`` lives: another origin if the index serves files from one."""
    return request.registry.settings["warehouse"].files_url.rstrip("/")


def file_url(base: str, path: str) -> str:
    return f"{base}/packages/{quote(path, safe='/+')}"


def license_text(release: Release) -> str | None:
    if release.license_expression:
        return release.license_expression
    text = (release.license or "").strip()
    if not text:
        return None
    first_line = text.splitlines()[0].strip()
    if len(first_line) > LICENSE_DISPLAY_LENGTH:
        return first_line[:LICENSE_DISPLAY_LENGTH] + "…"
    return first_line + ("…" if len(text) > len(first_line) else "")


def _safe_email(address: str) -> str | None:
    # A mailto: target with nothing that could start a new header, scheme or attribute.
    if address.count("@") != 1 or any(ch.isspace() or ch in "<>\"'\\:;,?&" for ch in address):
        return None
    local, domain = address.split("@")
    return address if local and "." in domain else None


def people(names: str | None, emails: str | None) -> list[Person]:
    """Who the metadata names. The emails field wins (it often carries the names too); when
    it holds no usable address it is shown as text, like the names field."""
    found = [
        Person(name=name or None, email=address)
        for name, address in (getaddresses([emails]) if emails else [])
        if _safe_email(address)
    ]
    names = (names or "").strip() or None
    if len(found) == 1 and not found[0].name and names:
        return [Person(name=names, email=found[0].email)]
    if found:
        return found
    text = names or (emails or "").strip()
    return [Person(name=text, email=None)] if text else []


def keyword_list(keywords: str | None) -> list[str]:
    if not keywords:
        return []
    separator = "," if "," in keywords else None
    return [k.strip() for k in keywords.split(separator) if k.strip()]


def project_links(release: Release) -> list[ProjectLink]:
    links = []
    if release.home_page:
        links.append(("Homepage", release.home_page))
    links.extend((url.label, url.url) for url in release.urls)
    if release.download_url:
        links.append(("Download", release.download_url))
    return [ProjectLink(label=label, url=url, href=safe_link(url)) for label, url in links]


def includeme(config) -> None:
    config.add_route("packaging.project", "/project/{name}/")
    # Before /project/{name}/{version}/ ("history" is no version: PEP 440 versions start
    # with a digit, or a "v" and a digit).
    config.add_route("packaging.history", "/project/{name}/history/")
    config.add_route("packaging.release", "/project/{name}/{version}/")
    config.scan(__name__)
