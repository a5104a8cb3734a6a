"""Validation of the form fields sent with an upload to `POST /legacy/`.

The fields mirror the core metadata of the uploaded file (see
https://packaging.python.org/specifications/core-metadata/), spelled the way twine and uv send
them: lower case with underscores, repeated fields for multi-use metadata.
"""

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses
from urllib.parse import urlsplit

import trove_classifiers
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from warehouse.upload.errors import UploadError

try:  # packaging >= 24.2
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
except ImportError:  # pragma: no cover - exercised only with an old packaging
    canonicalize_license_expression = None

SUPPORTED_METADATA_VERSIONS = ("1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5")
SUPPORTED_FILETYPES = ("sdist", "bdist_wheel")
MAX_SUMMARY_LENGTH = 512
MAX_PROJECT_URL_LABEL_LENGTH = 32

# re.ASCII: with IGNORECASE alone, [A-Z] would also match 'ſ' (U+017F) and the Kelvin sign.
NAME_PATTERN = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)
_HEX_DIGEST_LENGTHS = {"md5_digest": 32, "sha256_digest": 64, "blake2_256_digest": 64}
_HEX = re.compile(r"[0-9a-f]+", re.IGNORECASE | re.ASCII)
_LOOSE_EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+", re.ASCII)
# PEP 345 spelled Provides-Dist/Obsoletes-Dist as "Name (version)", which is not PEP 508.
_PEP345_NAME_AND_VERSION = re.compile(r"(?P<name>[^\s(]+)\s*\((?P<version>[^()]+)\)")

_DESCRIPTION_CONTENT_TYPES = ("text/plain", "text/x-rst", "text/markdown")
_MARKDOWN_VARIANTS = {"gfm": "GFM", "commonmark": "CommonMark"}

_MULTI_VALUED_FIELDS = (
    "classifiers",
    "dynamic",
    "license_file",
    "obsoletes",
    "obsoletes_dist",
    "platform",
    "project_urls",
    "provides",
    "provides_dist",
    "provides_extra",
    "requires",
    "requires_dist",
    "requires_external",
    "supported_platform",
)

# Field names as the core metadata spells them, for messages users can match to their files.
_CORE_METADATA_NAMES = {
    "author_email": "Author-email",
    "classifiers": "Classifier",
    "description_content_type": "Description-Content-Type",
    "download_url": "Download-URL",
    "dynamic": "Dynamic",
    "home_page": "Home-page",
    "license_expression": "License-Expression",
    "license_file": "License-File",
    "maintainer_email": "Maintainer-email",
    "metadata_version": "Metadata-Version",
    "name": "Name",
    "obsoletes_dist": "Obsoletes-Dist",
    "project_urls": "Project-URL",
    "provides_dist": "Provides-Dist",
    "provides_extra": "Provides-Extra",
    "requires_dist": "Requires-Dist",
    "requires_python": "Requires-Python",
    "summary": "Summary",
    "version": "Version",
}

# Every field Dynamic may name (lower case), that is all of them but the identifying three.
_DYNAMIC_FIELD_NAMES = frozenset(
    {
        "author",
        "author-email",
        "classifier",
        "description",
        "description-content-type",
        "download-url",
        "home-page",
        "import-name",
        "import-namespace",
        "keywords",
        "license",
        "license-expression",
        "license-file",
        "maintainer",
        "maintainer-email",
        "obsoletes",
        "obsoletes-dist",
        "platform",
        "project-url",
        "provides",
        "provides-dist",
        "provides-extra",
        "requires",
        "requires-dist",
        "requires-external",
        "requires-python",
        "summary",
        "supported-platform",
    }
)
_NEVER_DYNAMIC = frozenset({"name", "version", "metadata-version"})

DESCRIPTION_HELP = "See https://pypi.org/help/#description-content-type for more information."


@dataclass(kw_only=True)
class UploadForm:
    """The validated form fields of one upload; absent or empty fields are None or []."""

    name: str
    version: str  # as sent; compare through canonical_version
    canonical_version: str
    is_prerelease: bool
    metadata_version: str
    filetype: str  # "sdist" or "bdist_wheel"
    pyversion: str  # "source" for sdists, the wheel's python tag(s) otherwise
    md5_digest: str | None = None  # digests are lower-case hex
    sha256_digest: str | None = None
    blake2_256_digest: str | None = None
    summary: str | None = None
    description: str | None = None
    description_content_type: str | None = None
    keywords: str | None = None
    author: str | None = None
    author_email: str | None = None
    maintainer: str | None = None
    maintainer_email: str | None = None
    license: str | None = None
    license_expression: str | None = None
    license_files: list[str] = field(default_factory=list)
    home_page: str | None = None
    download_url: str | None = None
    requires_python: str | None = None
    platform: list[str] = field(default_factory=list)
    supported_platform: list[str] = field(default_factory=list)
    classifiers: list[str] = field(default_factory=list)
    requires_dist: list[str] = field(default_factory=list)
    provides_dist: list[str] = field(default_factory=list)
    obsoletes_dist: list[str] = field(default_factory=list)
    requires_external: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)
    provides_extra: list[str] = field(default_factory=list)
    dynamic: list[str] = field(default_factory=list)
    project_urls: list[tuple[str, str]] = field(default_factory=list)


def shown(value: str, limit: int = 100) -> str:
    """A user-supplied value quoted for an error message, cut short so messages stay readable."""
    if len(value) > limit:
        value = value[:limit] + "..."
    return repr(value)


def _invalid(field_name: str, value: str, reason: str) -> UploadError:
    label = _CORE_METADATA_NAMES.get(field_name, field_name)
    return UploadError(f"{shown(value)} is an invalid value for {label}: {reason}.")


class _FormFields:
    """Reads single- and multi-valued fields, treating empty strings as absent."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self._fields = fields

    def _values(self, name: str) -> list[str]:
        values = self._fields.get(name) or []
        if isinstance(values, str):  # a plain mapping of str -> str is a common caller slip
            values = [values]
        for value in values:
            if not isinstance(value, str):
                raise UploadError(f"Form field '{name}' must be text.")
            # PostgreSQL text columns can't hold NUL, and no metadata field legitimately does.
            if "\x00" in value:
                raise UploadError(f"Form field '{name}' contains a NUL character.")
        return list(values)

    def single(self, name: str, *, strip: bool = True) -> str | None:
        values = self._values(name)
        present = [v.strip() if strip else v for v in values if v.strip()]
        if len(set(present)) > 1:
            raise UploadError(f"Form field '{name}' must be given only once.")
        return present[0] if present else None

    def required(self, name: str) -> str:
        value = self.single(name)
        if value is None:
            raise UploadError(f"Missing required form field '{name}'.")
        return value

    def many(self, name: str) -> list[str]:
        return [v.strip() for v in self._values(name) if v.strip()]


def parse_upload_form(fields: Mapping[str, list[str]]) -> UploadForm:
    """Validate the non-file fields of an upload request, raising UploadError on the first fault."""
    form = _FormFields(fields)
    _check_action(form.single(":action"))
    _check_protocol_version(form.single("protocol_version"))

    metadata_version = _check_metadata_version(form.required("metadata_version"))
    name = _check_name(form.required("name"))
    version_text = form.required("version")
    version = _check_version(version_text)
    filetype = _check_filetype(form.required("filetype"))
    pyversion = _check_pyversion(filetype, form.single("pyversion"))
    digests = {key: _check_digest(key, form.single(key)) for key in _HEX_DIGEST_LENGTHS}

    lists = {key: form.many(key) for key in _MULTI_VALUED_FIELDS}
    # twine sends "license_file"; accept the plural spelling too.
    license_files = lists["license_file"] + form.many("license_files")
    license_expression = form.single("license_expression")
    _check_version_gated_fields(metadata_version, license_expression, lists["dynamic"])
    if Version(metadata_version) < Version("2.4"):
        # setuptools wrote License-File in 2.1 metadata with another meaning than PEP 639's;
        # twine drops those, so ignore them rather than reject the upload.
        license_files = []

    description_content_type = form.single("description_content_type")
    if description_content_type is not None:
        parse_description_content_type(description_content_type)

    _check_requirements("requires_dist", lists["requires_dist"], allow_urls=False)
    _check_requirements("provides_dist", lists["provides_dist"], allow_pep345_versions=True)
    _check_requirements("obsoletes_dist", lists["obsoletes_dist"], allow_pep345_versions=True)
    _check_classifiers(lists["classifiers"])
    _check_license_expression(license_expression, lists["classifiers"])
    _check_license_files(license_files)
    _check_provides_extra(lists["provides_extra"])
    _check_dynamic(lists["dynamic"])

    return UploadForm(
        name=name,
        version=version_text,
        canonical_version=canonicalize_version(version),
        is_prerelease=version.is_prerelease,
        metadata_version=metadata_version,
        filetype=filetype,
        pyversion=pyversion,
        **digests,
        summary=_check_summary(form.single("summary")),
        # The description is free text: its surrounding whitespace can matter (reST).
        description=form.single("description", strip=False),
        description_content_type=description_content_type,
        keywords=form.single("keywords"),
        author=form.single("author"),
        author_email=_check_emails("author_email", form.single("author_email")),
        maintainer=form.single("maintainer"),
        maintainer_email=_check_emails("maintainer_email", form.single("maintainer_email")),
        license=form.single("license", strip=False),
        license_expression=license_expression,
        license_files=license_files,
        home_page=_check_url("home_page", form.single("home_page")),
        download_url=_check_url("download_url", form.single("download_url")),
        requires_python=_check_requires_python(form.single("requires_python")),
        platform=lists["platform"],
        supported_platform=lists["supported_platform"],
        classifiers=lists["classifiers"],
        requires_dist=lists["requires_dist"],
        provides_dist=lists["provides_dist"],
        obsoletes_dist=lists["obsoletes_dist"],
        requires_external=lists["requires_external"],
        requires=lists["requires"],
        provides=lists["provides"],
        obsoletes=lists["obsoletes"],
        provides_extra=lists["provides_extra"],
        dynamic=lists["dynamic"],
        project_urls=_check_project_urls(lists["project_urls"]),
    )


def _check_action(action: str | None) -> None:
    if action is None:
        raise UploadError("Missing required form field ':action'.")
    if action != "file_upload":
        raise UploadError(f"Unknown action: {shown(action)}.")


def _check_protocol_version(protocol_version: str | None) -> None:
    # PyPI treats a missing protocol_version as version 1.
    if protocol_version is not None and protocol_version != "1":
        raise UploadError(f"Unknown protocol version: {shown(protocol_version)}.")


def _check_metadata_version(metadata_version: str) -> str:
    if metadata_version not in SUPPORTED_METADATA_VERSIONS:
        known = ", ".join(SUPPORTED_METADATA_VERSIONS)
        raise _invalid("metadata_version", metadata_version, f"use one of {known}")
    return metadata_version


def _check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise _invalid(
            "name",
            name,
            "start and end with a letter or digit and use only ASCII letters, digits, "
            "'.', '_' and '-'",
        )
    return name


def _check_version(version_text: str) -> Version:
    try:
        version = Version(version_text)
    except InvalidVersion:
        raise _invalid(
            "version",
            version_text,
            "use a valid PEP 440 version (https://peps.python.org/pep-0440/)",
        ) from None
    if version.local is not None:
        raise UploadError("Can't use PEP 440 local versions.")
    return version


def _check_filetype(filetype: str) -> str:
    if filetype not in SUPPORTED_FILETYPES:
        raise UploadError(
            f"Unsupported filetype {shown(filetype)}: only 'sdist' and 'bdist_wheel' "
            "uploads are accepted."
        )
    return filetype


def _check_pyversion(filetype: str, pyversion: str | None) -> str:
    if filetype == "sdist":
        if pyversion not in (None, "source"):
            raise UploadError("Use 'source' as Python version for an sdist.")
        return "source"
    if pyversion is None:
        raise UploadError("Python version is required for binary distribution uploads.")
    return pyversion


def _check_digest(key: str, digest: str | None) -> str | None:
    if digest is None:
        return None
    if len(digest) != _HEX_DIGEST_LENGTHS[key] or not _HEX.fullmatch(digest):
        raise _invalid(
            key, digest, f"use a hex-encoded digest of {_HEX_DIGEST_LENGTHS[key]} characters"
        )
    return digest.lower()


def _check_version_gated_fields(
    metadata_version: str, license_expression: str | None, dynamic: list[str]
) -> None:
    version = Version(metadata_version)
    if dynamic and version < Version("2.2"):
        raise UploadError("Dynamic requires metadata version 2.2 or later.")
    if license_expression is not None and version < Version("2.4"):
        raise UploadError("License-Expression requires metadata version 2.4 or later.")


def parse_description_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Description-Content-Type into its media type and its (lower-cased) parameters.

    Raises UploadError for anything but text/plain, text/x-rst and text/markdown with an
    optional UTF-8 charset and, for Markdown, a GFM or CommonMark variant.
    """
    media_type, *raw_parameters = value.split(";")
    media_type = media_type.strip().lower()
    if media_type not in _DESCRIPTION_CONTENT_TYPES:
        raise _invalid(
            "description_content_type",
            value,
            f"use one of {', '.join(_DESCRIPTION_CONTENT_TYPES)}",
        )
    parameters = {}
    for raw_parameter in raw_parameters:
        key, _, parameter_value = raw_parameter.partition("=")
        parameters[key.strip().lower()] = parameter_value.strip().strip('"')

    charset = parameters.get("charset")
    if charset is not None and charset.upper() != "UTF-8":
        raise _invalid("description_content_type", value, "use charset=UTF-8 or no charset")
    variant = parameters.get("variant")
    if media_type == "text/markdown" and variant is not None:
        if variant.lower() not in _MARKDOWN_VARIANTS:
            raise _invalid("description_content_type", value, "use variant=GFM or CommonMark")
    return media_type, parameters


def markdown_variant(parameters: Mapping[str, str]) -> str:
    """readme_renderer's spelling of the Markdown variant, GFM unless told otherwise."""
    return _MARKDOWN_VARIANTS.get(parameters.get("variant", "gfm").lower(), "GFM")


def _check_summary(summary: str | None) -> str | None:
    if summary is None:
        return None
    if len(summary) > MAX_SUMMARY_LENGTH:
        raise _invalid("summary", summary, f"use {MAX_SUMMARY_LENGTH} characters or less")
    if "\n" in summary or "\r" in summary:
        raise _invalid("summary", summary, "use a single line only")
    return summary


def is_http_url(value: str) -> bool:
    if any(character.isspace() or ord(character) < 32 for character in value):
        return False
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parts.scheme.lower() in ("http", "https") and bool(hostname)


def _check_url(key: str, url: str | None) -> str | None:
    # Old setuptools wrote the literal UNKNOWN for metadata it did not have.
    if url is None or url == "UNKNOWN":
        return None
    if not is_http_url(url):
        raise _invalid(key, url, "use a valid http:// or https:// URL")
    return url


def _check_emails(key: str, addresses: str | None) -> str | None:
    """A loose check: each comma-separated entry holds something shaped like local@domain."""
    if addresses is None:
        return None
    parsed = getaddresses([addresses])
    if not parsed or any(not _LOOSE_EMAIL_ADDRESS.fullmatch(addr) for _, addr in parsed):
        raise _invalid(key, addresses, "use email addresses such as 'Name <name@example.com>'")
    return addresses


def _check_requires_python(requires_python: str | None) -> str | None:
    if requires_python is None:
        return None
    try:
        SpecifierSet(requires_python)
    except InvalidSpecifier:
        raise _invalid(
            "requires_python", requires_python, "use a valid version specifier such as '>=3.9'"
        ) from None
    return requires_python


def _check_requirements(
    key: str,
    requirements: Iterable[str],
    *,
    allow_urls: bool = True,
    allow_pep345_versions: bool = False,
) -> None:
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            if allow_pep345_versions and _is_pep345_name_and_version(text):
                continue
            raise _invalid(key, text, "use a PEP 508 requirement such as 'name>=1.0'") from None
        if requirement.url and not allow_urls:
            raise UploadError(f"Can't have direct dependency: {shown(text)}.")


def _is_pep345_name_and_version(text: str) -> bool:
    match = _PEP345_NAME_AND_VERSION.fullmatch(text)
    if not match or not NAME_PATTERN.fullmatch(match["name"]):
        return False
    try:
        Version(match["version"].strip())
    except InvalidVersion:
        return False
    return True


def _check_classifiers(classifiers: Iterable[str]) -> None:
    for classifier in classifiers:
        if classifier in trove_classifiers.deprecated_classifiers:
            replacements = trove_classifiers.deprecated_classifiers[classifier]
            advice = f": use {', '.join(map(repr, replacements))} instead" if replacements else ""
            raise UploadError(f"Classifier {shown(classifier)} has been deprecated{advice}.")
        if classifier not in trove_classifiers.classifiers:
            raise UploadError(f"Classifier {shown(classifier)} is not a valid classifier.")


def _check_license_expression(expression: str | None, classifiers: Iterable[str]) -> None:
    if expression is None:
        return
    if canonicalize_license_expression is not None:
        try:
            canonicalize_license_expression(expression)
        except InvalidLicenseExpression:
            raise _invalid(
                "license_expression",
                expression,
                "use a valid SPDX license expression such as 'MIT OR Apache-2.0'",
            ) from None
    # PEP 639: a license expression supersedes the License :: classifiers.
    license_classifiers = [c for c in classifiers if c.startswith("License ::")]
    if license_classifiers:
        raise UploadError(
            "License classifiers have been superseded by license expressions (PEP 639); "
            f"remove {', '.join(map(shown, license_classifiers))}."
        )


def _check_license_files(paths: Iterable[str]) -> None:
    # PEP 639: paths relative to the project root, with forward slashes, never leaving it.
    for path in paths:
        parts = path.split("/")
        if (
            "\\" in path
            or path.startswith("/")
            or re.match(r"[A-Za-z]:", path)
            or any(part in ("", ".", "..") for part in parts)
            or posixpath.normpath(path) != path
        ):
            raise _invalid(
                "license_file", path, "use a relative path with '/' separators inside the project"
            )


def _check_provides_extra(extras: Iterable[str]) -> None:
    for extra in extras:
        if not NAME_PATTERN.fullmatch(extra):
            raise _invalid(
                "provides_extra",
                extra,
                "use a valid name made of ASCII letters, digits, '.', '_' and '-'",
            )


def _check_dynamic(dynamic_fields: Iterable[str]) -> None:
    for dynamic_field in dynamic_fields:
        if dynamic_field.lower() in _NEVER_DYNAMIC:
            raise _invalid(
                "dynamic", dynamic_field, "Name, Version and Metadata-Version are static"
            )
        if dynamic_field.lower() not in _DYNAMIC_FIELD_NAMES:
            raise _invalid("dynamic", dynamic_field, "not a core metadata field name")


def _check_project_urls(entries: Iterable[str]) -> list[tuple[str, str]]:
    project_urls: list[tuple[str, str]] = []
    labels: set[str] = set()
    for entry in entries:
        label, comma, url = (part.strip() for part in entry.partition(","))
        if not comma or not label:
            raise _invalid("project_urls", entry, "use 'Label, URL'")
        if len(label) > MAX_PROJECT_URL_LABEL_LENGTH:
            raise _invalid(
                "project_urls",
                entry,
                f"use a label of {MAX_PROJECT_URL_LABEL_LENGTH} characters or less",
            )
        if not is_http_url(url):
            raise _invalid("project_urls", entry, "use a valid http:// or https:// URL")
        if label in labels:
            raise _invalid("project_urls", entry, f"the label {shown(label)} is used twice")
        labels.add(label)
        project_urls.append((label, url))
    return project_urls


def render_description(text: str | None, content_type: str | None) -> str | None:
    """The description as sanitized HTML, rendered the way PyPI does; None when there is none.

    Without a content type the description is tried as reStructuredText and shown as plain
    text if that fails; with an explicit text/x-rst a failure is the uploader's to fix.
    """
    if text is None or not text.strip():
        return None
    # Imported here: docutils and the Markdown renderer are slow to import and only needed
    # by the upload view.
    from readme_renderer import markdown, rst, txt

    if content_type is None:
        return rst.render(text) or txt.render(text)
    media_type, parameters = parse_description_content_type(content_type)
    if media_type == "text/x-rst":
        rendered = rst.render(text)
        if rendered is None:
            raise UploadError(
                f"The description failed to render for 'text/x-rst'. {DESCRIPTION_HELP}"
            )
        return rendered
    if media_type == "text/markdown":
        return markdown.render(text, variant=markdown_variant(parameters)) or txt.render(text)
    return txt.render(text)
