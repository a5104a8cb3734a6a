"""Talking to an upstream: its simple index (PEP 691 JSON, else PEP 503 HTML) and JSON API.

A project is read into the shape bandersnatch's filters expect (PyPI's JSON API:
``{"info": ..., "releases": {version: [file, ...]}}``), whichever of those the upstream
offers: the simple page gives the files, their digests and URLs; the JSON API, where there is
one, adds the project's description and each file's package type.
"""

from __future__ import annotations

import dataclasses
import html.parser
import xmlrpc.client
from urllib.parse import urldefrag, urljoin

import requests
import structlog
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from warehouse.upstreams import metrics

log = structlog.get_logger(__name__)

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
TIMEOUT = (5, 60)
USER_AGENT = "warehouse-upstream-sync"


# Index URL -> whether its JSON API can stand for its simple pages (see UpstreamClient).
_JSON_API_COMPLETE: dict[str, bool] = {}


class UpstreamUnavailable(Exception):
    """The upstream did not answer, or answered with an error; trying later may work."""


class StalePage(UpstreamUnavailable):
    """The upstream served a page older than its change log says it should be (a CDN)."""


@dataclasses.dataclass(frozen=True)
class Index:
    serial: int | None  # None: the upstream numbers nothing (a static folder)
    projects: dict[str, int | None]  # name as listed -> its last serial


@dataclasses.dataclass(frozen=True)
class ProjectPage:
    name: str
    serial: int | None
    document: dict  # JSON-API shaped; every file also has "url" and "core_metadata"


class UpstreamClient:
    def __init__(self, index_url: str, username: str | None = None, password: str | None = None):
        self.index_url = index_url if index_url.endswith("/") else index_url + "/"
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if username:
            self.session.auth = (username, password or "")
        # Without credentials requests reads ~/.netrc for the host, as pip does.
        # Whether the upstream's JSON API carries everything its simple pages do (each file's
        # PEP 658 ``core-metadata``, as this index's does): then one request a project does.
        # Learnt from the first project fetched with both, once per process and upstream
        # (every task, thread and client of this process then knows it); None until then.
        self.json_api_complete: bool | None = _JSON_API_COMPLETE.get(self.index_url)

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, **kwargs) -> requests.Response:
        try:
            response = self.session.get(url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            metrics.UPSTREAM_ERRORS.labels(kind="connection").inc()
            raise UpstreamUnavailable(f"{url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            metrics.UPSTREAM_ERRORS.labels(kind=str(response.status_code)).inc()
            raise UpstreamUnavailable(f"{url} answered {response.status_code}")
        return response

    # The index -----------------------------------------------------------------------------

    def index(self) -> Index:
        response = self.get(self.index_url, headers={"Accept": ACCEPT})
        if response.status_code != 200:
            raise UpstreamUnavailable(f"{self.index_url} answered {response.status_code}")
        metrics.PAGES_FETCHED.labels(kind="index").inc()
        if _is_json(response):
            data = response.json()
            serial = _serial(response, data.get("meta", {}))
            return Index(
                serial,
                {p["name"]: p.get("_last-serial") for p in data.get("projects", [])},
            )
        links = _Links.parse(response.text)
        return Index(_header_serial(response), {text.strip(): None for _, text, _ in links})

    # The change log (XML-RPC) ----------------------------------------------------------------

    CHANGELOG_BATCHES = 1000

    def changelog_since(self, serial: int) -> tuple[int, dict[str, int]] | None:
        """``(newest serial, {name: newest serial})`` of the changes after ``serial``, from
        XML-RPC ``changelog_since_serial``; None when the upstream has no such method (then
        the caller diffs the index instead)."""
        if not self.index_url.endswith("/simple/"):
            return None
        url = self.index_url[: -len("simple/")] + "pypi"
        changed: dict[str, int] = {}
        for _ in range(self.CHANGELOG_BATCHES):
            body = xmlrpc.client.dumps((serial,), "changelog_since_serial").encode()
            try:
                response = self.session.post(
                    url, data=body, headers={"Content-Type": "text/xml"}, timeout=TIMEOUT
                )
            except requests.RequestException as exc:
                raise UpstreamUnavailable(f"{url}: {exc.__class__.__name__}") from exc
            if response.status_code != 200:
                return None
            metrics.PAGES_FETCHED.labels(kind="changelog").inc()
            try:
                (entries,), _ = xmlrpc.client.loads(response.content)
            except (xmlrpc.client.Fault, xmlrpc.client.ResponseError, ValueError):
                return None
            if not entries:
                break
            for name, _version, _when, _action, entry_serial in entries:
                changed[name] = max(changed.get(name, 0), entry_serial)
                serial = max(serial, entry_serial)
        return serial, changed

    # One project ---------------------------------------------------------------------------

    def project(self, name: str, *, with_json_api: bool = True) -> ProjectPage | None:
        """The project as the upstream shows it now; None if the upstream has no such project."""
        normalized = canonicalize_name(name)
        if with_json_api and self.json_api_complete:
            api = self._json_api(normalized)
            if api is not None and _complete(api):
                base = self.index_url[: -len("simple/")] + f"pypi/{normalized}/json"
                return _page_from_json_api(normalized, api, base)
            # Not there (or not complete after all): the simple page says which.
        url = urljoin(self.index_url, f"{normalized}/")
        response = self.get(url, headers={"Accept": ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"{url} answered {response.status_code}")
        metrics.PAGES_FETCHED.labels(kind="project").inc()
        metrics.BYTES_FETCHED.labels(kind="page").inc(len(response.content))
        if _is_json(response):
            data = response.json()
            serial = _serial(response, data.get("meta", {}))
            files = [_file_from_json(url, f) for f in data.get("files", [])]
            display_name = data.get("name", normalized)
        else:
            serial = _header_serial(response)
            files = [_file_from_link(url, *link) for link in _Links.parse(response.text)]
            display_name = normalized
        api = self._json_api(normalized) if with_json_api else None
        if api is not None and self.json_api_complete is None and files:
            self.json_api_complete = _JSON_API_COMPLETE[self.index_url] = _complete(api)
        return ProjectPage(normalized, serial, _document(display_name, files, api))

    def _json_api(self, normalized: str) -> dict | None:
        if not self.index_url.endswith("/simple/"):
            return None
        url = self.index_url[: -len("simple/")] + f"pypi/{normalized}/json"
        try:
            response = self.get(url, headers={"Accept": "application/json"})
        except UpstreamUnavailable:
            return None
        if response.status_code != 200:
            return None
        metrics.PAGES_FETCHED.labels(kind="json").inc()
        metrics.BYTES_FETCHED.labels(kind="page").inc(len(response.content))
        try:
            data = response.json()
        except ValueError:
            return None
        if isinstance(data, dict) and data.get("last_serial") is None:
            data["last_serial"] = _header_serial(response)
        return data if isinstance(data, dict) else None


def _complete(api: dict) -> bool:
    """The JSON API names each file's PEP 658 metadata (or its absence) and the serial: it
    can stand for the simple page."""
    files = [f for files in (api.get("releases") or {}).values() for f in files]
    return (
        api.get("last_serial") is not None
        and bool(files)
        and all("core-metadata" in f and f.get("url") for f in files)
    )


def _page_from_json_api(normalized: str, api: dict, api_url: str) -> ProjectPage:
    """The page a project's JSON API describes, in the shape the simple page gives."""
    files = []
    for api_files in (api.get("releases") or {}).values():
        # In the simple page's order (releases as listed, then filenames): the same rows
        # and journal entries come out, whichever request a project was read with.
        for f in sorted(api_files, key=lambda f: f["filename"]):
            metadata = f.get("core-metadata")
            yanked = f.get("yanked", False)
            files.append(
                {
                    "filename": f["filename"],
                    "url": urljoin(api_url, f["url"]),
                    "digests": {
                        k.lower(): v.lower() for k, v in (f.get("digests") or {}).items() if v
                    },
                    "requires_python": f.get("requires_python"),
                    "size": f.get("size"),
                    "upload_time_iso_8601": f.get("upload_time_iso_8601"),
                    "yanked": bool(yanked),
                    "yanked_reason": f.get("yanked_reason"),
                    "core_metadata": metadata.get("sha256") if isinstance(metadata, dict) else None,
                }
            )
    name = (api.get("info") or {}).get("name") or normalized
    return ProjectPage(normalized, int(api["last_serial"]), _document(name, files, api))


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").split(";")[0].strip() == SIMPLE_JSON


def _serial(response, meta: dict) -> int | None:
    value = meta.get("_last-serial")
    if value is None:
        return _header_serial(response)
    return int(value)


def _header_serial(response) -> int | None:
    value = response.headers.get("X-PyPI-Last-Serial")
    return int(value) if value and value.strip().isdigit() else None


def _file_from_json(page_url: str, f: dict) -> dict:
    metadata = f.get("core-metadata", f.get("dist-info-metadata", False))
    yanked = f.get("yanked", False)
    return {
        "filename": f["filename"],
        "url": urljoin(page_url, f["url"]),
        "digests": {k.lower(): v.lower() for k, v in (f.get("hashes") or {}).items()},
        "requires_python": f.get("requires-python"),
        "size": f.get("size"),
        "upload_time_iso_8601": f.get("upload-time"),
        "yanked": bool(yanked),
        "yanked_reason": yanked if isinstance(yanked, str) else None,
        "core_metadata": (metadata or {}).get("sha256") if isinstance(metadata, dict) else None,
    }


def _file_from_link(page_url: str, href: str, text: str, attrs: dict) -> dict:
    url, fragment = urldefrag(urljoin(page_url, href))
    digests = {}
    if "=" in fragment:
        algorithm, _, value = fragment.partition("=")
        digests[algorithm.lower()] = value.lower()
    metadata = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
    metadata_sha256 = None
    if metadata and metadata.startswith("sha256="):
        metadata_sha256 = metadata.partition("=")[2].lower()
    yanked = attrs.get("data-yanked")
    filename = url.rstrip("/").rpartition("/")[2] or text.strip()
    return {
        "filename": filename,
        "url": url,
        "digests": digests,
        "requires_python": attrs.get("data-requires-python"),
        "size": None,
        "upload_time_iso_8601": None,
        "yanked": yanked is not None,
        "yanked_reason": yanked or None,
        "core_metadata": metadata_sha256,
    }


def _version_and_type(filename: str) -> tuple[str, str] | None:
    try:
        _, version, _, _ = parse_wheel_filename(filename)
        return str(version), "bdist_wheel"
    except InvalidWheelFilename:
        pass
    try:
        _, version = parse_sdist_filename(filename)
        return str(version), "sdist"
    except InvalidSdistFilename:
        return None


def _document(name: str, files: list[dict], api: dict | None) -> dict:
    """A JSON-API shaped document from the simple page's files (and the JSON API if any)."""
    from_api: dict[str, tuple[str, dict]] = {}
    info: dict = {"name": name}
    if api:
        info = dict(api.get("info") or {}) or info
        for version, api_files in (api.get("releases") or {}).items():
            for f in api_files:
                from_api[f["filename"]] = (version, f)
    releases: dict[str, list[dict]] = {}
    for f in files:
        if f["filename"] in from_api:
            version, api_file = from_api[f["filename"]]
            f["packagetype"] = api_file.get("packagetype")
            f["python_version"] = api_file.get("python_version")
            f["size"] = f["size"] if f["size"] is not None else api_file.get("size")
            f["upload_time_iso_8601"] = f["upload_time_iso_8601"] or api_file.get(
                "upload_time_iso_8601"
            )
            for algorithm, value in (api_file.get("digests") or {}).items():
                f["digests"].setdefault(algorithm, value)
        else:
            parsed = _version_and_type(f["filename"])
            if parsed is None:
                log.info("upstream.file_skipped", filename=f["filename"], reason="unknown type")
                continue
            version, f["packagetype"] = parsed
            f["python_version"] = "source" if f["packagetype"] == "sdist" else "py3"
        if "sha256" not in f["digests"]:
            log.info("upstream.file_skipped", filename=f["filename"], reason="no sha256")
            continue
        releases.setdefault(version, []).append(f)
    if "version" not in info or info.get("version") not in releases:
        info["version"] = _newest(releases)
    info.setdefault("name", name)
    return {"info": info, "releases": releases}


def _newest(releases: dict) -> str | None:
    best = None
    for version in releases:
        try:
            parsed = Version(version)
        except InvalidVersion:
            continue
        if best is None or (
            not parsed.is_prerelease and (best[0].is_prerelease or parsed > best[0])
        ):
            best = (parsed, version)
        elif parsed > best[0] and best[0].is_prerelease:
            best = (parsed, version)
    return best[1] if best else next(iter(releases), None)


class _Links(html.parser.HTMLParser):
    """The anchors of a PEP 503 page: (href, text, attributes)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, dict]] = []
        self._current: tuple[str, dict] | None = None
        self._text: list[str] = []

    @classmethod
    def parse(cls, text: str) -> list[tuple[str, str, dict]]:
        parser = cls()
        parser.feed(text)
        parser.close()
        return parser.links

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            values = {k: (v if v is not None else "") for k, v in attrs}
            if "href" in values:
                self._current = (values["href"], values)
                self._text = []

    def handle_data(self, data):
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._current is not None:
            href, attrs = self._current
            self.links.append((href, "".join(self._text), attrs))
            self._current = None
