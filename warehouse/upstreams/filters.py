"""bandersnatch's filter plugins, read from an unmodified bandersnatch configuration.

The meaning of each plugin is bandersnatch 8's (its ``bandersnatch_filter_plugins``), quirks
included, because operators bring configs that already mirror what they expect; the parity
test (tests/mirror/test_upstream_filter_parity.py) runs real bandersnatch beside these. What
differs on purpose: every :class:`Filters` holds its own settings (bandersnatch keeps them in
class attributes and one process-wide config), so upstreams with different configs run side
by side in one process.

The data the plugins look at has the shape of PyPI's JSON API (``/pypi/<name>/json``):
``{"info": {...}, "releases": {version: [file, ...]}}``, each file with at least
``filename``, ``packagetype``, ``size`` and ``upload_time_iso_8601``.

Order, as bandersnatch applies it to one project:

1. project plugins on the name alone (``{"info": {"name": name}}``) when the index is listed;
2. metadata plugins on the whole document: a project that fails is not mirrored at all;
3. release-file plugins on each file; releases left without files are dropped (always, even
   with no plugin enabled);
4. release plugins on each remaining version, in the document's order, each seeing the
   releases still kept at that point.
"""

from __future__ import annotations

import configparser
import dataclasses
import re
from collections.abc import Callable, Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PROJECT_PLUGINS = ("allowlist_project", "blocklist_project", "regex_project")
METADATA_PLUGINS = ("size_project_metadata", "regex_project_metadata")
RELEASE_FILE_PLUGINS = ("exclude_platform", "regex_release_file_metadata")
RELEASE_PLUGINS = (
    "allowlist_release",
    "blocklist_release",
    "prerelease_release",
    "regex_release",
    "latest_release",
)
KNOWN_PLUGINS = frozenset(
    PROJECT_PLUGINS + METADATA_PLUGINS + RELEASE_FILE_PLUGINS + RELEASE_PLUGINS
)


class FilterConfigError(ValueError):
    """The configuration cannot be used; the message says which line or section."""


# Reading the configuration -------------------------------------------------------------------


def read_config(text: str) -> configparser.ConfigParser:
    # As bandersnatch reads it: "=" only (metadata keys contain ":"), keys case-sensitive.
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise FilterConfigError(f"not a valid bandersnatch configuration: {exc}") from exc
    return parser


def _option(config: configparser.ConfigParser, section: str, key: str) -> str | None:
    if not config.has_section(section) or key not in config[section]:
        return None
    try:
        return config[section][key]
    except configparser.Error as exc:
        raise FilterConfigError(f"[{section}] {key}: {exc}") from exc


def _requirement(line: str, section: str) -> Requirement:
    try:
        return Requirement(line)
    except InvalidRequirement as exc:
        raise FilterConfigError(f"[{section}] packages: {line!r} is not a requirement") from exc


def _allowlisted_names(config) -> frozenset[str]:
    """``[allowlist] packages`` as allowlist_project reads it: names, comments dropped."""
    names = set()
    for line in (_option(config, "allowlist", "packages") or "").split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.split("#", 1)[0].strip()
        names.add(canonicalize_name(_requirement(line, "allowlist").name))
    return frozenset(names)


def _blocklisted_names(config) -> frozenset[str]:
    """``[blocklist] packages`` as blocklist_project reads it: bare names only (lines with a
    specifier, extras or markers are release rules)."""
    names = set()
    for line in (_option(config, "blocklist", "packages") or "").split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = _requirement(line, "blocklist")
        if not requirement.specifier and requirement.name == line:
            names.add(canonicalize_name(requirement.name))
    return frozenset(names)


def _release_requirements(config, section: str) -> list[Requirement]:
    """Requirements with specifiers, as the allowlist/blocklist release plugins read them."""
    requirements = []
    for line in (_option(config, section, "packages") or "").split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if section == "allowlist":
            # allowlist_release also skips "-r file" style lines and inline comments.
            if line.startswith("-"):
                continue
            line = line.split("#", 1)[0].strip()
        requirement = _requirement(line, section)
        requirement.name = canonicalize_name(requirement.name)
        requirement.specifier.prereleases = True
        requirements.append(requirement)
    return requirements


def _patterns(text: str | None) -> list[re.Pattern]:
    try:
        return [re.compile(p) for p in (text or "").split("\n") if p]
    except re.error as exc:
        raise FilterConfigError(f"invalid regular expression: {exc}") from exc


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_SIZE_PREFIXES = "kmgtpezy"


def parse_size(text: str) -> int:
    """A human size in bytes, with K/M/G... (and KB, KiB, ...) all powers of 1024, as
    bandersnatch's size filter reads it."""
    match = _SIZE.match(text)
    if match is None:
        raise FilterConfigError(f"[size_project_metadata] max_package_size: {text!r}")
    number, unit = float(match[1]), match[2].lower().rstrip("s")
    if not unit or unit.startswith("b"):
        return int(number)
    if unit[0] not in _SIZE_PREFIXES:
        raise FilterConfigError(f"[size_project_metadata] max_package_size: {text!r}")
    return int(number * 1024 ** (_SIZE_PREFIXES.index(unit[0]) + 1))


# The platform tags exclude_platform knows, by family.
_WINDOWS_TAGS = (".win32", "-win32", "win_amd64", "win-amd64", "win_arm64", "win-arm64")
_LINUX_TAGS = (
    "linux-i686",
    "linux-x86_64",
    "linux_armv7l",
    "linux_armv6l",
    "manylinux1_i686",
    "manylinux1_x86_64",
    "manylinux2010_i686",
    "manylinux2010_x86_64",
    "manylinux2014_x86_64",
    "manylinux2014_i686",
    "manylinux2014_aarch64",
    "manylinux2014_armv7l",
    "manylinux2014_ppc64",
    "manylinux2014_ppc64le",
    "manylinux2014_s390x",
    "-manylinux_",
    "musllinux",
)
_PYTHON_TAGS = frozenset(
    ["py2", "py2.4", "py2.5", "py2.6", "py2.7", "py3"] + [f"py3.{minor}" for minor in range(15)]
)
# Interpreter abbreviations of PEP 425, "py" itself apart.
_INTERPRETERS = ("cp", "pp", "ip", "jy")


def _python_version_fragments(tag: str) -> list[str]:
    with_dot = tag.lower().removeprefix("py")
    without_dot = with_dot.replace(".", "")
    return [f"-{i}{without_dot}-" for i in _INTERPRETERS] + [f"-py{with_dot}-", f"-py{with_dot}."]


def _platform_exclusions(text: str) -> tuple[list[str], list[str]]:
    """(filename fragments, package types) that ``[blocklist] platforms`` excludes."""
    fragments: list[str] = []
    packagetypes: list[str] = []
    for platform in text.split():
        tag = platform.lower()
        # bandersnatch compares "freebsd" and "linux" as substrings ("bsd" means freebsd).
        if tag in ("windows", "win"):
            fragments += _WINDOWS_TAGS
            packagetypes += ["bdist_msi", "bdist_wininst"]
        elif tag in ("macos", "macosx"):
            fragments += ["macosx_", "macosx-"]
            packagetypes += ["bdist_dmg"]
        elif tag in "freebsd":
            fragments += [".freebsd", "-freebsd"]
        elif tag in "linux":
            fragments += _LINUX_TAGS
            packagetypes += ["bdist_rpm"]
        elif tag in _PYTHON_TAGS:
            fragments += _python_version_fragments(tag)
        elif tag in _WINDOWS_TAGS or tag in _LINUX_TAGS:
            fragments.append(tag)
    return fragments, packagetypes


# The metadata-path matcher (regex_project_metadata, regex_release_file_metadata) ---------------


@dataclasses.dataclass(frozen=True)
class _MetadataPatterns:
    patterns: dict[str, list[re.Pattern]]
    search: bool

    @classmethod
    def from_section(cls, config, section: str) -> _MetadataPatterns | None:
        if not config.has_section(section):
            return None
        search = False
        patterns = {}
        own = config._sections.get(section, {})  # not the DEFAULT section's keys
        for key in own:
            if key == "search":
                try:
                    search = config[section].getboolean("search", fallback=False)
                except ValueError:
                    search = False
                continue
            patterns[key] = _patterns(config[section][key])
        return cls(patterns, search)

    def matches(self, document: dict) -> bool:
        return all(self._key_matches(key, document) for key in self.patterns)

    def _key_matches(self, key: str, document: dict) -> bool:
        *tags, path = key.split(":")
        mode, nulls_match = "any", True
        for tag in tags:
            if tag == "not-null":
                nulls_match = False
            elif tag == "match-null":
                nulls_match = True
            elif tag in ("all", "any", "none"):
                mode = tag
        values = _values_at(path, document)
        patterns = self.patterns[key]
        if mode == "all":
            return all(
                (nulls_match and not values) or any(self._hit(p, v) for v in values)
                for p in patterns
            )
        if mode == "none":
            # bandersnatch's "none" is "not any" with nulls matching, whatever the tags say.
            return not self._any(patterns, values, nulls_match=True)
        return self._any(patterns, values, nulls_match)

    def _any(self, patterns, values, nulls_match: bool) -> bool:
        for pattern in patterns:
            if nulls_match and not values:
                return True
            if any(self._hit(pattern, v) for v in values):
                return True
        return False

    def _hit(self, pattern: re.Pattern, value) -> bool:
        value = value if isinstance(value, str) else str(value)
        return (pattern.search(value) if self.search else pattern.match(value)) is not None


def _values_at(path: str, document: dict) -> list:
    node = document
    for part in path.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            return []
        node = node[part]
    return node if isinstance(node, list) else [node]


# The filters of one upstream ------------------------------------------------------------------


@dataclasses.dataclass
class Filters:
    """The plugins one bandersnatch configuration enables, with their settings."""

    enabled: frozenset[str] = frozenset()
    allowlist_names: frozenset[str] = frozenset()
    blocklist_names: frozenset[str] = frozenset()
    project_patterns: list[re.Pattern] = dataclasses.field(default_factory=list)
    allow_requirements: list[Requirement] = dataclasses.field(default_factory=list)
    block_requirements: list[Requirement] = dataclasses.field(default_factory=list)
    prerelease_names: list[str] = dataclasses.field(default_factory=list)
    release_patterns: list[re.Pattern] = dataclasses.field(default_factory=list)
    keep_latest: int = 0
    latest_sort_by: str = "version"
    platform_fragments: list[str] = dataclasses.field(default_factory=list)
    platform_packagetypes: list[str] = dataclasses.field(default_factory=list)
    max_project_size: int = 0
    project_metadata: _MetadataPatterns | None = None
    file_metadata: _MetadataPatterns | None = None

    PRERELEASE = tuple(
        re.compile(p) for p in (r".+rc\d+$", r".+a(lpha)?\d+$", r".+b(eta)?\d+$", r".+dev\d+$")
    )

    @classmethod
    def from_config(cls, text: str) -> Filters:
        """The filters of a bandersnatch configuration's text (empty text: no filters)."""
        config = read_config(text)
        raw = _option(config, "plugins", "enabled") or ""
        names = [line for line in raw.split("\n") if line]
        enabled = KNOWN_PLUGINS if "all" in names else frozenset(names) & KNOWN_PLUGINS
        filters = cls(enabled=frozenset(enabled))
        on = enabled.__contains__
        if on("allowlist_project") or on("size_project_metadata"):
            filters.allowlist_names = _allowlisted_names(config)
        if on("blocklist_project"):
            filters.blocklist_names = _blocklisted_names(config)
        if on("regex_project"):
            filters.project_patterns = _patterns(_option(config, "filter_regex", "packages"))
        if on("allowlist_release"):
            filters.allow_requirements = _release_requirements(config, "allowlist")
        if on("blocklist_release"):
            filters.block_requirements = _release_requirements(config, "blocklist")
        if on("prerelease_release"):
            filters.prerelease_names = [
                canonicalize_name(line.strip())
                for line in (_option(config, "filter_prerelease", "packages") or "").split("\n")
                if line.strip()
            ]
        if on("regex_release"):
            filters.release_patterns = _patterns(_option(config, "filter_regex", "releases"))
        if on("latest_release"):
            try:
                filters.keep_latest = int(_option(config, "latest_release", "keep") or 0)
            except ValueError:
                filters.keep_latest = 0
            sort_by = _option(config, "latest_release", "sort_by")
            if sort_by in ("time", "version"):
                filters.latest_sort_by = sort_by
        if on("exclude_platform"):
            filters.platform_fragments, filters.platform_packagetypes = _platform_exclusions(
                _option(config, "blocklist", "platforms") or ""
            )
        if on("size_project_metadata"):
            size = _option(config, "size_project_metadata", "max_package_size")
            filters.max_project_size = parse_size(size) if size else 0
        if on("regex_project_metadata"):
            filters.project_metadata = _MetadataPatterns.from_section(
                config, "regex_project_metadata"
            )
        if on("regex_release_file_metadata"):
            filters.file_metadata = _MetadataPatterns.from_section(
                config, "regex_release_file_metadata"
            )
        return filters

    # 1. Projects, by name --------------------------------------------------------------------

    def project_allowed(self, name: str) -> bool:
        """Whether a name listed by the upstream's index is mirrored at all."""
        normalized = canonicalize_name(name)
        if "allowlist_project" in self.enabled and self.allowlist_names:
            if normalized not in self.allowlist_names:
                return False
        if normalized in self.blocklist_names:
            return False
        return not any(p.match(name) for p in self.project_patterns)

    # 2.-4. A project's document ---------------------------------------------------------------

    def releases_to_mirror(self, document: dict) -> dict[str, list[dict]] | None:
        """The releases and files of ``document`` that pass, in its order; None when a
        metadata plugin rejects the whole project."""
        if not self._metadata_allowed(document):
            return None
        info = document.get("info") or {}
        releases: dict[str, list[dict]] = {}
        for version, files in (document.get("releases") or {}).items():
            kept = [
                f
                for f in files
                if self._file_allowed({"info": info, "release": version, "release_file": f})
            ]
            if kept:
                releases[version] = kept
        for version in list(releases):
            if not self._release_allowed(info, version, releases):
                del releases[version]
        return releases

    def _metadata_allowed(self, document: dict) -> bool:
        name = (document.get("info") or {}).get("name") or ""
        # Projects in [allowlist] packages are exempt from the size limit.
        if self.max_project_size > 0 and canonicalize_name(name) not in self.allowlist_names:
            total = sum(f.get("size") or 0 for fs in document["releases"].values() for f in fs)
            if total > self.max_project_size:
                return False
        if self.project_metadata is not None and not self.project_metadata.matches(document):
            return False
        return True

    def _file_allowed(self, view: dict) -> bool:
        file = view["release_file"]
        if self.platform_fragments or self.platform_packagetypes:
            packagetype = file.get("packagetype")
            if packagetype != "sdist":
                if packagetype in self.platform_packagetypes:
                    return False
                if any(fragment in file["filename"] for fragment in self.platform_fragments):
                    return False
        if self.file_metadata is not None and not self.file_metadata.matches(view):
            return False
        return True

    def _release_allowed(self, info: dict, version: str, releases: dict) -> bool:
        checks: list[Callable[[], bool]] = []
        if "allowlist_release" in self.enabled:
            checks.append(lambda: _in_requirements(self.allow_requirements, info, version))
        if self.block_requirements:
            checks.append(lambda: not _in_requirements(self.block_requirements, info, version))
        if "prerelease_release" in self.enabled:
            checks.append(lambda: self._not_prerelease(info, version))
        if self.release_patterns:
            checks.append(lambda: not any(p.match(version) for p in self.release_patterns))
        if self.keep_latest:
            checks.append(lambda: version in self._latest(info, releases))
        return all(check() for check in checks)

    def _not_prerelease(self, info: dict, version: str) -> bool:
        # bandersnatch compares the name as the upstream wrote it with the normalized list.
        if self.prerelease_names and info.get("name") not in self.prerelease_names:
            return True
        return not any(p.match(version) for p in self.PRERELEASE)

    def _latest(self, info: dict, releases: dict) -> list[str]:
        keep = self.keep_latest
        if self.latest_sort_by == "time":
            if keep > len(releases):
                return list(releases)
            ordered = sorted(
                releases, key=lambda v: releases[v][0]["upload_time_iso_8601"], reverse=True
            )
            chosen = ordered[:keep]
        else:
            parsed = []
            for version in releases:
                try:
                    parsed.append((Version(version), version))
                except InvalidVersion:
                    continue
            chosen = [v for _, v in sorted(parsed, reverse=True)[:keep]]
        latest = info.get("version")
        if latest not in chosen:
            # The upstream's current version is always kept, in place of the last chosen.
            if len(chosen) < keep:
                chosen.append(latest)
            elif chosen:
                chosen[-1] = latest
        return chosen


def _in_requirements(requirements: Iterable[Requirement], info: dict, version: str) -> bool:
    name = canonicalize_name(info.get("name") or "")
    if not name or not version:
        return False
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return any(r.name == name and parsed in r.specifier for r in requirements)
