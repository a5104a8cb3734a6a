"""Build real wheels and sdists for tests, and the form fields twine 7 would upload with them.

Independent of the code under test on purpose: the artifacts are built by hand the way build
backends lay them out, so tests exercise the upload code against the formats, not itself.
"""

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name
from packaging.version import Version

MetadataExtra = Mapping[str, str | Iterable[str]]
DIST_INFO_FILES = ("METADATA", "WHEEL", "RECORD")

# How twine 7 renames packaging's RawMetadata keys into form fields.
_TWINE_FORM_NAMES = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
}


def filename_project(name: str) -> str:
    """The project part of a PEP 427/625 filename: normalized, with underscores."""
    return canonicalize_name(name).replace("-", "_")


def metadata_text(
    name: str,
    version: str,
    *,
    metadata_version: str = "2.1",
    summary: str | None = "An example project",
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    metadata_extra: MetadataExtra | None = None,
) -> str:
    """A METADATA/PKG-INFO document; a "Description" entry in metadata_extra becomes the body."""
    headers: list[tuple[str, str]] = [
        ("Metadata-Version", metadata_version),
        ("Name", name),
        ("Version", version),
    ]
    if summary is not None:
        headers.append(("Summary", summary))
    if requires_python is not None:
        headers.append(("Requires-Python", requires_python))
    headers.extend(("Requires-Dist", requirement) for requirement in requires_dist)
    body = ""
    for key, value in (metadata_extra or {}).items():
        if key == "Description":
            body = str(value)
            continue
        values = [value] if isinstance(value, str) else list(value)
        headers.extend((key, item) for item in values)
    text = "".join(f"{key}: {value}\n" for key, value in headers)
    return f"{text}\n{body}" if body else text


def _as_bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def record_line(path: str, content: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(content)}\n"


def wheel_filename(
    name: str,
    version: str,
    *,
    python_tag: str = "py3",
    abi_tag: str = "none",
    platform_tag: str = "any",
) -> str:
    return f"{filename_project(name)}-{version}-{python_tag}-{abi_tag}-{platform_tag}.whl"


def make_wheel(
    tmp_path: Path,
    name: str,
    version: str,
    *,
    metadata_extra: MetadataExtra | None = None,
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    platform_tag: str = "any",
    python_tag: str = "py3",
    abi_tag: str = "none",
    extra_files: Mapping[str, str | bytes] | None = None,
    omit: Iterable[str] = (),
    metadata_version: str = "2.1",
    summary: str | None = "An example project",
    filename: str | None = None,
) -> Path:
    """A valid wheel with a correct RECORD, written to tmp_path.

    `omit` names dist-info files ("METADATA", "WHEEL", "RECORD") or archive paths to leave out;
    `extra_files` maps archive paths to contents added (and recorded) as well.
    """
    project = filename_project(name)
    dist_info = f"{project}-{version}.dist-info"
    omitted = {f"{dist_info}/{item}" if item in DIST_INFO_FILES else item for item in omit}
    tag = f"{python_tag}-{abi_tag}-{platform_tag}"
    files: dict[str, bytes] = {
        f"{project}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": metadata_text(
            name,
            version,
            metadata_version=metadata_version,
            summary=summary,
            requires_python=requires_python,
            requires_dist=requires_dist,
            metadata_extra=metadata_extra,
        ).encode(),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests.support\n"
            f"Root-Is-Purelib: {'true' if platform_tag == 'any' else 'false'}\nTag: {tag}\n"
        ).encode(),
    }
    files.update({path: _as_bytes(content) for path, content in (extra_files or {}).items()})
    record_path = f"{dist_info}/RECORD"
    record = "".join(record_line(path, content) for path, content in files.items())
    files[record_path] = f"{record}{record_path},,\n".encode()

    path = tmp_path / (
        filename
        or wheel_filename(
            name, version, python_tag=python_tag, abi_tag=abi_tag, platform_tag=platform_tag
        )
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, content in files.items():
            if member not in omitted:
                archive.writestr(member, content)
    return path


def make_sdist(
    tmp_path: Path,
    name: str,
    version: str,
    *,
    metadata_extra: MetadataExtra | None = None,
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    extra_files: Mapping[str, str | bytes] | None = None,
    omit: Iterable[str] = (),
    metadata_version: str = "2.1",
    summary: str | None = "An example project",
    extension: str = ".tar.gz",
    filename: str | None = None,
) -> Path:
    """A valid PEP 625 sdist (`.tar.gz`, or a legacy `.zip`), written to tmp_path.

    Paths in `omit` and `extra_files` are relative to the top-level `{name}-{version}/`.
    """
    top = f"{filename_project(name)}-{version}"
    files: dict[str, bytes] = {
        "PKG-INFO": metadata_text(
            name,
            version,
            metadata_version=metadata_version,
            summary=summary,
            requires_python=requires_python,
            requires_dist=requires_dist,
            metadata_extra=metadata_extra,
        ).encode(),
        "pyproject.toml": (
            f'[project]\nname = "{name}"\nversion = "{version}"\n\n'
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        ).encode(),
        f"src/{filename_project(name)}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    files.update({path: _as_bytes(content) for path, content in (extra_files or {}).items()})
    members = {f"{top}/{path}": content for path, content in files.items() if path not in set(omit)}
    path = tmp_path / (filename or f"{top}{extension}")
    if extension == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, content in members.items():
                archive.writestr(member, content)
    else:
        write_tar_gz(path, members, directories=[top])
    return path


def write_tar_gz(
    path: Path, files: Mapping[str, bytes], *, directories: Iterable[str] = ()
) -> Path:
    """A .tar.gz with the given directories, then regular files."""
    with tarfile.open(path, "w:gz") as archive:
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        for member, content in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return path


def _read_embedded_metadata(path: Path) -> bytes | None:
    """METADATA or PKG-INFO as twine would find it, or None if the file has none."""
    if path.name.endswith(".whl"):
        pattern = re.compile(r"[^/]+\.dist-info/METADATA")
    else:
        pattern = re.compile(r"[^/]+/PKG-INFO")
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile() and pattern.fullmatch(member.name):
                    stream = archive.extractfile(member)
                    return stream.read() if stream else None
        return None
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if pattern.fullmatch(member):
                return archive.read(member)
    return None


def _twine_fields_from_metadata(data: bytes) -> dict[str, list[str]]:
    raw, _ = parse_email(data)
    if Version(raw.get("metadata_version", "0")) < Version("2.4"):
        raw.pop("license_files", None)  # twine drops setuptools' pre-PEP 639 License-File
    fields: dict[str, list[str]] = {}
    for key, value in raw.items():
        form_name = _TWINE_FORM_NAMES.get(key, key)
        if key == "project_urls":
            fields[form_name] = [f"{label}, {url}" for label, url in value.items()]
        elif key == "keywords":
            fields[form_name] = [", ".join(value)]
        elif isinstance(value, list):
            fields[form_name] = list(value)
        else:
            fields[form_name] = [value]
    return fields


def form_fields_for(
    path: Path,
    name: str,
    version: str,
    filetype: str | None = None,
    **overrides: str | list[str] | None,
) -> dict[str, list[str]]:
    """The multipart fields (without the file part) twine 7 sends to upload `path`.

    Metadata fields come from the file's METADATA/PKG-INFO; `name` (made twine-safe) and
    `version` come from the arguments. `overrides` replace fields; None removes one.
    """
    content = path.read_bytes()
    embedded = _read_embedded_metadata(path)
    fields = _twine_fields_from_metadata(embedded) if embedded else {}
    filetype = filetype or ("bdist_wheel" if path.name.endswith(".whl") else "sdist")
    pyversion = path.name[: -len(".whl")].split("-")[-3] if filetype == "bdist_wheel" else "source"
    fields.update(
        {
            "name": [re.sub(r"[^A-Za-z0-9.]+", "-", name)],
            "version": [version],
            "filetype": [filetype],
            "pyversion": [pyversion],
            "sha256_digest": [hashlib.sha256(content).hexdigest()],
            "blake2_256_digest": [hashlib.blake2b(content, digest_size=32).hexdigest()],
            ":action": ["file_upload"],
            "protocol_version": ["1"],
        }
    )
    for key, value in overrides.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = [value] if isinstance(value, str) else list(value)
    return fields
