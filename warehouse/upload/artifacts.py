"""Inspection of an uploaded distribution file: its name, its archive and its embedded metadata.

Everything here reads the file once, in a streaming way, under explicit budgets: uploads are
untrusted archives and a hostile one (zip bomb, path traversal, device files) must be refused
before anything else touches it.
"""

import base64
import binascii
import csv
import email.parser
import email.policy
import gzip
import hashlib
import hmac
import io
import posixpath
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from warehouse.upload.errors import UploadError
from warehouse.upload.metadata import UploadForm, shown
from warehouse.upload.zipformat import ZipLayoutError, check_zip_layout

ONE_MIB = 1024 * 1024
CHUNK_SIZE = ONE_MIB
DEFAULT_MAX_UNCOMPRESSED = 1024 * ONE_MIB
MAX_MEMBERS = 100_000
# A member (or the whole archive) that inflates more than MAX_COMPRESSION_RATIO times is only
# suspicious once it is big enough to hurt; small, highly compressible files are common.
MAX_COMPRESSION_RATIO = 50
COMPRESSION_RATIO_FLOOR = 10 * ONE_MIB
# METADATA/PKG-INFO hold the long description, so allow generously but not unboundedly.
MAX_METADATA_FILE_SIZE = 16 * ONE_MIB
_MAX_KEPT_BYTES = 2 * MAX_METADATA_FILE_SIZE

FILE_SIZE_HELP = "See https://pypi.org/help/#file-size-limit for more information."
_EXTENSIONS = {".whl": "bdist_wheel", ".tar.gz": "sdist", ".zip": "sdist"}
_LOOSE_FILENAME_PROJECT = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)

_LINUX_ARCHES = "x86_64|i686|aarch64|armv7l|ppc64|ppc64le|s390x|riscv64|loongarch64"
_MACOS_ARCHES = "x86_64|arm64|universal2|intel|universal|fat|fat3|fat32|fat64|i386|ppc|ppc64"
# Platform tags an installer can match against a real system. Notably plain linux_* wheels are
# refused: they claim to run on any Linux and don't (PEP 513); PyPI makes an exception for the
# two Raspberry Pi ARM tags, so do we.
ALLOWED_PLATFORM_TAGS = tuple(
    re.compile(pattern, re.ASCII)
    for pattern in (
        r"any",
        r"win32|win_amd64|win_arm64|win_ia64",
        r"linux_armv6l|linux_armv7l",
        r"manylinux1_(x86_64|i686)",
        r"manylinux2010_(x86_64|i686)",
        r"manylinux2014_(x86_64|i686|aarch64|armv7l|ppc64|ppc64le|s390x)",
        rf"manylinux_\d+_\d+_({_LINUX_ARCHES})",  # PEP 600
        rf"musllinux_\d+_\d+_({_LINUX_ARCHES})",  # PEP 656
        rf"macosx_\d+_\d+_({_MACOS_ARCHES})",
        r"ios_\d+_\d+_(arm64_iphoneos|arm64_iphonesimulator|x86_64_iphonesimulator)",  # PEP 730
        r"android_\d+_(armeabi_v7a|arm64_v8a|x86|x86_64)",  # PEP 738
        r"pyodide_\d+_\d+_wasm32",  # PEP 783
        r"emscripten_\d+_\d+_\d+_wasm32",
    )
)


# --- Digests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digests:
    """Lower-case hex digests and the size in bytes of an uploaded file."""

    md5: str
    sha256: str
    blake2_256: str
    size: int


def file_too_large(project_name: str, limit: int) -> UploadError:
    """The 413 for a file over `limit` bytes; also usable on a too-large Content-Length."""
    shown_limit = f"{limit // ONE_MIB} MB" if limit >= ONE_MIB else f"{limit} bytes"
    return UploadError(
        f"File too large. Limit for project {project_name!r} is {shown_limit}. {FILE_SIZE_HELP}",
        status=413,
    )


def hash_stream(src: BinaryIO, dest: BinaryIO, *, limit: int, project_name: str) -> Digests:
    """Copy `src` to `dest` in chunks, digesting as it goes; 413 once more than `limit` bytes."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    blake2_256 = hashlib.blake2b(digest_size=32)
    size = 0
    while chunk := src.read(CHUNK_SIZE):
        size += len(chunk)
        if size > limit:
            raise file_too_large(project_name, limit)
        for digest in (md5, sha256, blake2_256):
            digest.update(chunk)
        dest.write(chunk)
    return Digests(md5.hexdigest(), sha256.hexdigest(), blake2_256.hexdigest(), size)


def check_digests(form: UploadForm, digests: Digests) -> None:
    """Each digest the uploader sent must be the digest of the bytes that arrived."""
    pairs = (
        (form.md5_digest, digests.md5),
        (form.sha256_digest, digests.sha256),
        (form.blake2_256_digest, digests.blake2_256),
    )
    for supplied, calculated in pairs:
        if supplied is not None and not hmac.compare_digest(supplied.lower(), calculated):
            raise UploadError(
                "The digest supplied does not match a digest calculated from the uploaded file."
            )


# --- Filenames ---------------------------------------------------------------------------------


def _extension(filename: str) -> str | None:
    return next((ext for ext in _EXTENSIONS if filename.endswith(ext)), None)


def parse_distribution_filename(filename: str, filetype: str) -> tuple[str, str]:
    """Check an upload's filename on its own and return its (project, version) parts as written.

    Wheels follow PEP 427 and must have platform tags an installer can use; sdists are
    `{name}-{version}.tar.gz` (PEP 625) or a legacy `.zip`, split at the last '-'.
    """
    if "/" in filename or "\\" in filename:
        raise UploadError("Cannot upload a file with '/' or '\\' in the name.")
    extension = _extension(filename)
    if extension is None:
        raise UploadError("Invalid file extension: Use .tar.gz, .whl or .zip (PEP 527).")
    if _EXTENSIONS[extension] != filetype:
        raise UploadError(
            f"The file {shown(filename)} does not match the filetype {shown(filetype)}."
        )
    if filetype == "bdist_wheel":
        return _parse_wheel_filename(filename)
    return _parse_sdist_filename(filename, extension)


def _parse_wheel_filename(filename: str) -> tuple[str, str]:
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise UploadError(f"{exc} (PEP 427).") from None
    for platform in sorted({tag.platform for tag in tags}):
        if not any(pattern.fullmatch(platform) for pattern in ALLOWED_PLATFORM_TAGS):
            raise UploadError(
                f"Binary wheel {shown(filename)} has an unsupported platform tag {shown(platform)}."
            )
    project, version, *_ = filename[: -len(".whl")].split("-")
    return project, version


def _parse_sdist_filename(filename: str, extension: str) -> tuple[str, str]:
    project, dash, version = filename[: -len(extension)].rpartition("-")
    if dash and _LOOSE_FILENAME_PROJECT.fullmatch(project) and _is_version(version):
        return project, version
    raise UploadError(
        f"Invalid source distribution filename {shown(filename)}: "
        "use '{name}-{version}.tar.gz' (PEP 625)."
    )


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _same_version(left: str, right: str) -> bool:
    try:
        return canonicalize_version(Version(left)) == canonicalize_version(Version(right))
    except InvalidVersion:
        return left == right


def check_filename_matches(filename: str, filetype: str, name: str, version: str) -> None:
    """The filename must name the project and version of the form (normalized comparison)."""
    file_project, file_version = parse_distribution_filename(filename, filetype)
    if canonicalize_name(file_project) != canonicalize_name(name):
        prefix = canonicalize_name(name).replace("-", "_")
        raise UploadError(f"Start filename for {name!r} with {prefix!r}.")
    if not _same_version(file_version, version):
        raise UploadError(f"Version in filename should be {version!r} not {file_version!r}.")


# --- Archive reading ---------------------------------------------------------------------------


def _invalid_file(filename: str, reason: str) -> UploadError:
    return UploadError(f"Invalid distribution file {shown(filename)}: {reason}.")


class _Budget:
    """Counts the bytes inflated from one archive and stops at its limits."""

    def __init__(self, filename: str, max_uncompressed: int, compressed_size: int) -> None:
        self.filename = filename
        self.max_uncompressed = max_uncompressed
        self.compressed_size = compressed_size
        self.used = 0

    def too_big(self) -> UploadError:
        return _invalid_file(
            self.filename,
            f"it holds more than {self.max_uncompressed} bytes once uncompressed",
        )

    def bomb(self) -> UploadError:
        return _invalid_file(self.filename, "its compression ratio is suspiciously high")

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > self.max_uncompressed:
            raise self.too_big()
        if is_suspicious_ratio(self.used, self.compressed_size):
            raise self.bomb()


def is_suspicious_ratio(uncompressed: int, compressed: int) -> bool:
    return uncompressed > COMPRESSION_RATIO_FLOOR and uncompressed > MAX_COMPRESSION_RATIO * max(
        compressed, 1
    )


class _BudgetedReader:
    """A read-only file object that spends every byte it returns from the budget."""

    def __init__(self, raw: IO[bytes], budget: _Budget) -> None:
        self._raw = raw
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        # An unbounded read could inflate everything in one go, so cap each read.
        data = self._raw.read(CHUNK_SIZE if size is None or size < 0 else min(size, CHUNK_SIZE))
        self._budget.spend(len(data))
        return data


@dataclass
class _Contents:
    """What the inspection keeps of an archive: member names and the few files it asked for."""

    files: set[str] = field(default_factory=set)
    directories: set[str] = field(default_factory=set)
    kept: dict[str, bytes] = field(default_factory=dict)
    # sha256 and size of each ZIP member, for a wheel's RECORD.
    digests: dict[str, tuple[bytes, int]] = field(default_factory=dict)

    def keep(self, filename: str, name: str, data: bytes) -> None:
        # Only the metadata files of the one expected directory matter; an archive holding
        # many candidates is refused later, but must not fill memory first.
        if sum(map(len, self.kept.values())) + len(data) > _MAX_KEPT_BYTES:
            raise _invalid_file(filename, "it holds too many metadata files")
        self.kept[name] = data

    def top_level_names(self) -> set[str]:
        return {name.split("/", 1)[0] for name in self.files | self.directories}


def _safe_member_name(filename: str, name: str) -> str:
    """The member path normalized to 'a/b/c', refusing anything that could land outside."""
    unsafe = (
        not name
        or "\x00" in name
        or name.startswith(("/", "\\"))
        or re.match(r"[A-Za-z]:", name)
        # Windows extractors split on backslashes too, so '..\\' escapes as well.
        or ".." in re.split(r"[/\\]", name)
    )
    normalized = "/".join(part for part in name.split("/") if part not in ("", "."))
    if unsafe or not normalized:
        raise _invalid_file(filename, f"unsafe member path {shown(name)}")
    return normalized


def _read_member(
    stream: IO[bytes],
    *,
    declared_size: int,
    budget: _Budget,
    filename: str,
    keep: bool,
    digest: Any = None,
) -> bytes | None:
    """Inflate one member fully (this is what checks its CRC), keeping it only if asked."""
    kept = bytearray() if keep else None
    seen = 0
    while chunk := stream.read(CHUNK_SIZE):
        seen += len(chunk)
        # Don't trust the header: an archive whose member inflates past its declared size lies.
        if seen > declared_size:
            raise _invalid_file(filename, "a member is larger than its declared size")
        budget.spend(len(chunk))
        if digest is not None:
            digest.update(chunk)
        if kept is not None:
            if seen > MAX_METADATA_FILE_SIZE:
                raise _invalid_file(filename, "its metadata file is too large")
            kept += chunk
    return bytes(kept) if kept is not None else None


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError)
_TAR_ERRORS = (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, OSError)


def _read_zip(
    path: Path, filename: str, keep: Callable[[str], bool], max_uncompressed: int
) -> _Contents:
    contents = _Contents()
    budget = _Budget(filename, max_uncompressed, path.stat().st_size)
    try:
        check_zip_layout(path)
    except ZipLayoutError as exc:
        raise _invalid_file(filename, str(exc)) from None
    except OSError:
        raise _invalid_file(filename, "it is not a valid zip archive") from None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_zip_headers(filename, members, budget)
            for member in members:
                name = _safe_member_name(filename, member.filename)
                if member.is_dir():
                    contents.directories.add(name)
                    continue
                if name in contents.files:
                    # Installers disagree on which duplicate wins, so refuse the ambiguity.
                    raise _invalid_file(filename, f"duplicate member {shown(name)}")
                contents.files.add(name)
                digest = hashlib.sha256()
                with archive.open(member) as stream:
                    data = _read_member(
                        stream,
                        declared_size=member.file_size,
                        budget=budget,
                        filename=filename,
                        keep=keep(name),
                        digest=digest,
                    )
                contents.digests[name] = (digest.digest(), member.file_size)
                if data is not None:
                    contents.keep(filename, name, data)
    except _ZIP_ERRORS:
        raise _invalid_file(filename, "it is not a valid zip archive") from None
    return contents


def _check_zip_headers(filename: str, members: list[zipfile.ZipInfo], budget: _Budget) -> None:
    """Refuse obvious bombs from the central directory alone, before inflating anything."""
    if len(members) > MAX_MEMBERS:
        raise _invalid_file(filename, f"it has more than {MAX_MEMBERS} members")
    declared = sum(member.file_size for member in members)
    if declared > budget.max_uncompressed:
        raise budget.too_big()
    if any(is_suspicious_ratio(m.file_size, m.compress_size) for m in members):
        raise budget.bomb()
    if is_suspicious_ratio(declared, sum(member.compress_size for member in members)):
        raise budget.bomb()


def _read_tar_gz(
    path: Path, filename: str, keep: Callable[[str], bool], max_uncompressed: int
) -> _Contents:
    contents = _Contents()
    budget = _Budget(filename, max_uncompressed, path.stat().st_size)
    try:
        # Inflate through the budget so tar headers (pax, long names) are counted too, and
        # stream ("r|") so nothing seeks back or buffers the whole archive.
        with gzip.open(path, "rb") as inflated:
            budgeted: Any = _BudgetedReader(inflated, budget)
            with tarfile.open(fileobj=budgeted, mode="r|") as archive:
                for count, member in enumerate(archive, start=1):
                    if count > MAX_MEMBERS:
                        raise _invalid_file(filename, f"it has more than {MAX_MEMBERS} members")
                    _add_tar_member(filename, archive, member, contents, keep)
            # Inflate whatever follows the end-of-archive marker too: that verifies the gzip
            # checksum and keeps trailing data within the budget.
            while budgeted.read(CHUNK_SIZE):
                pass
    except _TAR_ERRORS:
        raise _invalid_file(filename, "it is not a valid tar.gz archive") from None
    return contents


def _add_tar_member(
    filename: str,
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    contents: _Contents,
    keep: Callable[[str], bool],
) -> None:
    name = _safe_member_name(filename, member.name)
    if name in contents.files or (name in contents.directories and not member.isdir()):
        # Extractors disagree on which copy wins (and a later link can redirect an earlier
        # file), so refuse the ambiguity.
        raise _invalid_file(filename, f"duplicate member {shown(name)}")
    if member.isdir():
        contents.directories.add(name)
    elif member.issym() or member.islnk():
        _check_tar_link(filename, name, member)
        contents.files.add(name)
    elif member.isfile() and not member.issparse():
        contents.files.add(name)
        if keep(name):
            if member.size > MAX_METADATA_FILE_SIZE:
                raise _invalid_file(filename, "its metadata file is too large")
            stream = archive.extractfile(member)
            assert stream is not None  # a regular file always has a stream
            contents.keep(filename, name, stream.read())
    else:
        kind = "device file or FIFO" if member.isdev() else "unsupported member type"
        raise _invalid_file(filename, f"{shown(name)} is a {kind}")


def _check_tar_link(filename: str, name: str, member: tarfile.TarInfo) -> None:
    """Links must stay inside the top-level directory of the link itself."""
    target = member.linkname
    if member.issym():
        # A symlink's target is relative to the directory holding the link.
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    else:
        # A hard link's target is a path from the archive root.
        resolved = posixpath.normpath(target)
    escapes = (
        not target
        or target.startswith(("/", "\\"))
        or re.match(r"[A-Za-z]:", target)
        or resolved == ".."
        or resolved.startswith("../")
        or resolved.split("/", 1)[0] != name.split("/", 1)[0]
    )
    if escapes:
        raise _invalid_file(filename, f"the link {shown(name)} points outside the archive")


# --- Inspection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """What an uploaded distribution file turned out to hold."""

    filename: str
    packagetype: str  # "sdist" or "bdist_wheel"
    size: int
    metadata_path: str  # in the archive: "{dist-info}/METADATA" or "{top}/PKG-INFO"
    metadata_bytes: bytes  # the raw METADATA (wheels) or PKG-INFO (sdists)
    # packaging.metadata.RawMetadata keys ("name", "version", "metadata_version",
    # "requires_dist", ...); "summary", "requires_python" (None if absent) and
    # "requires_dist" ([] if absent) are always present.
    metadata: dict[str, Any]
    wheel_tags: frozenset[str] | None  # e.g. {"py3-none-any"}; None for sdists
    python_tag: str  # the filename's python tag for wheels ("py3", "cp312"), "source" for sdists
    member_names: frozenset[str] = frozenset()  # every file (and link) path in the archive


def inspect_artifact(
    path: Path,
    filename: str,
    filetype: str,
    *,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
) -> Artifact:
    """Check the uploaded file at `path` (sent as `filename`) and read its metadata."""
    project, version = parse_distribution_filename(filename, filetype)
    if filetype == "bdist_wheel":
        return _inspect_wheel(path, filename, project, version, max_uncompressed)
    return _inspect_sdist(path, filename, project, version, max_uncompressed)


def _is_dist_info_file(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 2
        and parts[0].endswith(".dist-info")
        and parts[1] in ("METADATA", "WHEEL", "RECORD")
    )


def _inspect_wheel(
    path: Path, filename: str, project: str, version: str, max_uncompressed: int
) -> Artifact:
    contents = _read_zip(path, filename, _is_dist_info_file, max_uncompressed)
    dist_info = _find_dist_info(filename, project, version, contents)
    for required in ("METADATA", "WHEEL", "RECORD"):
        if f"{dist_info}/{required}" not in contents.files:
            raise UploadError(
                f"Wheel {shown(filename)} does not contain the required {required} file: "
                f"{dist_info}/{required}"
            )
    _check_wheel_file(filename, contents.kept.get(f"{dist_info}/WHEEL", b""))
    _check_record(path, filename, dist_info, contents)
    metadata_path = f"{dist_info}/METADATA"
    metadata_bytes = contents.kept.get(metadata_path, b"")
    _, _, _, tags = parse_wheel_filename(filename)
    return Artifact(
        filename=filename,
        packagetype="bdist_wheel",
        size=path.stat().st_size,
        metadata_path=metadata_path,
        metadata_bytes=metadata_bytes,
        metadata=_parse_metadata(filename, "METADATA", metadata_bytes),
        wheel_tags=frozenset(str(tag) for tag in tags),
        python_tag=filename[: -len(".whl")].split("-")[-3],
        member_names=frozenset(contents.files),
    )


def _find_dist_info(filename: str, project: str, version: str, contents: _Contents) -> str:
    expected = f"{project}-{version}.dist-info"
    candidates = sorted(n for n in contents.top_level_names() if n.endswith(".dist-info"))
    if len(candidates) > 1:
        raise UploadError(f"Wheel {shown(filename)} contains more than one .dist-info directory.")
    if not candidates:
        raise UploadError(
            f"Wheel {shown(filename)} does not contain the required METADATA file: "
            f"{expected}/METADATA"
        )
    dist_info = candidates[0]
    dir_project, _, dir_version = dist_info[: -len(".dist-info")].rpartition("-")
    if canonicalize_name(dir_project) != canonicalize_name(project) or not _same_version(
        dir_version, version
    ):
        raise UploadError(
            f"Wheel {shown(filename)} has a .dist-info directory {shown(dist_info)} "
            f"that does not match its filename, expected {shown(expected)}."
        )
    return dist_info


def _check_wheel_file(filename: str, wheel_file: bytes) -> None:
    headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(wheel_file)
    wheel_version = (headers.get("Wheel-Version") or "").strip()
    if not wheel_version:
        raise UploadError(f"Wheel {shown(filename)} has no Wheel-Version in its WHEEL file.")
    if wheel_version.split(".", 1)[0] != "1":
        raise UploadError(
            f"Wheel {shown(filename)} has an unsupported Wheel-Version {shown(wheel_version)}."
        )
    if not (headers.get("Root-Is-Purelib") or "").strip():
        raise UploadError(f"Wheel {shown(filename)} has no Root-Is-Purelib in its WHEEL file.")


# Signatures of RECORD cannot be listed in it (PEP 491).
_UNRECORDED = ("RECORD", "RECORD.jws", "RECORD.p7s")
# What installers accept in RECORD: sha256 or stronger.
_RECORD_ALGORITHMS = {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"}


def _record_problem(filename: str, problem: str) -> UploadError:
    return UploadError(f"Wheel {shown(filename)} has a RECORD that {problem}.")


def _parse_record(filename: str, record: bytes) -> dict[str, tuple[str, str, str]]:
    """RECORD's rows: normalized path -> (path as written, hash, size)."""
    try:
        rows = list(csv.reader(io.StringIO(record.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        raise _record_problem(filename, "is not valid UTF-8 CSV") from None
    parsed: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        if not row:
            continue
        if len(row) != 3:
            raise _record_problem(filename, f"has a row of {len(row)} fields: {shown(row[0])}")
        written, hash_field, size = row
        normalized = _normalized(written)
        if normalized in parsed:
            raise _record_problem(filename, f"lists {shown(written)} twice")
        parsed[normalized] = (written, hash_field, size)
    return parsed


def _check_record(path: Path, filename: str, dist_info: str, contents: _Contents) -> None:
    """Every file of the wheel is in RECORD with its true hash and size, and nothing else is."""
    rows = _parse_record(filename, contents.kept.get(f"{dist_info}/RECORD", b""))
    unrecorded = {f"{dist_info}/{name}" for name in _UNRECORDED}
    for name in sorted(contents.files - unrecorded):
        row = rows.pop(name, None)
        if row is None:
            raise _record_problem(filename, f"does not list {shown(name)}")
        written, hash_field, size = row
        algorithm, _, encoded = hash_field.partition("=")
        if algorithm not in _RECORD_ALGORITHMS or not encoded:
            raise _record_problem(filename, f"has no sha256 (or stronger) hash of {shown(name)}")
        try:
            recorded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise _record_problem(filename, f"has a malformed hash of {shown(name)}") from None
        sha256, actual_size = contents.digests[name]
        actual = sha256 if algorithm == "sha256" else _member_digest(path, name, algorithm)
        if not hmac.compare_digest(recorded, actual):
            raise _record_problem(filename, f"has the wrong hash of {shown(name)}")
        if size.strip() and size.strip() != str(actual_size):
            raise _record_problem(filename, f"has the wrong size of {shown(name)}")
    for name in sorted(rows):
        if name not in unrecorded:
            raise _record_problem(filename, f"lists {shown(name)}, which is not in the wheel")


def _member_digest(path: Path, name: str, algorithm: str) -> bytes:
    """A member's digest with another algorithm than sha256 (rare: read it again)."""
    digest = hashlib.new(algorithm)
    with zipfile.ZipFile(path) as archive:
        member = next(m for m in archive.infolist() if _normalized(m.filename) == name)
        with archive.open(member) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
    return digest.digest()


def _normalized(name: str) -> str:
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _is_top_level_pkg_info(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _inspect_sdist(
    path: Path, filename: str, project: str, version: str, max_uncompressed: int
) -> Artifact:
    read = _read_tar_gz if filename.endswith(".tar.gz") else _read_zip
    contents = read(path, filename, _is_top_level_pkg_info, max_uncompressed)
    top = _single_top_level_directory(filename, project, version, contents)
    metadata_path = f"{top}/PKG-INFO"
    if metadata_path not in contents.kept:
        raise UploadError(
            f"Source distribution {shown(filename)} does not contain a PKG-INFO file."
        )
    metadata_bytes = contents.kept[metadata_path]
    return Artifact(
        filename=filename,
        packagetype="sdist",
        size=path.stat().st_size,
        metadata_path=metadata_path,
        metadata_bytes=metadata_bytes,
        metadata=_parse_metadata(filename, "PKG-INFO", metadata_bytes),
        wheel_tags=None,
        python_tag="source",
        member_names=frozenset(contents.files),
    )


def _single_top_level_directory(
    filename: str, project: str, version: str, contents: _Contents
) -> str:
    expected = f"{project}-{version}"
    top_level = contents.top_level_names()
    if len(top_level) == 1:
        (top,) = top_level
        dir_project, _, dir_version = top.rpartition("-")
        is_directory = top not in contents.files
        if (
            is_directory
            and canonicalize_name(dir_project) == canonicalize_name(project)
            and _same_version(dir_version, version)
        ):
            return top
    raise UploadError(
        f"Source distribution {shown(filename)} must contain a single top-level directory "
        f"named {shown(expected)}."
    )


_METADATA_FIELD_LABELS = {
    "metadata_version": "Metadata-Version",
    "name": "Name",
    "version": "Version",
}


def _parse_metadata(filename: str, kind: str, data: bytes) -> dict[str, Any]:
    try:
        raw, _unparsed = parse_email(data)
    except (ValueError, UnicodeError):
        raw = {}
    for key, label in _METADATA_FIELD_LABELS.items():
        if not raw.get(key):
            raise UploadError(
                f"The {kind} file of {shown(filename)} has a missing or invalid {label} field."
            )
    metadata: dict[str, Any] = dict(raw)
    metadata.setdefault("summary", None)
    metadata.setdefault("requires_python", None)
    metadata.setdefault("requires_dist", [])
    return metadata


# --- Metadata versus form ----------------------------------------------------------------------


def _mismatch(field_name: str, in_file: str, in_form: str) -> UploadError:
    return UploadError(
        f"The {field_name!r} in the uploaded file's metadata ({in_file}) "
        f"does not match the form field ({in_form})."
    )


def _short(value: str, limit: int = 100) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def check_metadata_agrees(artifact: Artifact, form: UploadForm) -> None:
    """The metadata inside the file must describe what the form says was uploaded.

    Strict on identity (name, version, metadata version); for wheels also on Requires-Python
    and Requires-Dist when the form sends them, compared in normalized form.
    """
    metadata = artifact.metadata
    if canonicalize_name(metadata["name"]) != canonicalize_name(form.name):
        raise _mismatch("name", _short(metadata["name"]), form.name)
    if not _same_version(metadata["version"], form.version):
        raise _mismatch("version", _short(metadata["version"]), form.version)
    if metadata["metadata_version"].strip() != form.metadata_version:
        raise _mismatch(
            "metadata_version", _short(metadata["metadata_version"]), form.metadata_version
        )
    if artifact.packagetype == "bdist_wheel":
        _check_requires_python_agrees(metadata["requires_python"], form.requires_python)
        _check_requires_dist_agrees(metadata["requires_dist"], form.requires_dist)
    _check_license_files_present(artifact, form.license_files)


def _check_requires_python_agrees(in_file: str | None, in_form: str | None) -> None:
    if in_form is None:
        return
    if in_file is None or _specifier_set(in_file) != _specifier_set(in_form):
        raise _mismatch("requires_python", _short(in_file or "none"), _short(in_form))


def _specifier_set(text: str) -> SpecifierSet | str:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return text


def _check_requires_dist_agrees(in_file: list[str], in_form: list[str]) -> None:
    if not in_form:
        return
    file_set = {_normalized_requirement(text) for text in in_file}
    form_set = {_normalized_requirement(text) for text in in_form}
    if file_set != form_set:
        raise _mismatch(
            "requires_dist",
            _short(", ".join(sorted(file_set)) or "none"),
            _short(", ".join(sorted(form_set))),
        )


def _normalized_requirement(text: str) -> str:
    try:
        return str(Requirement(text))
    except InvalidRequirement:
        return " ".join(text.split())


def _check_license_files_present(artifact: Artifact, license_files: list[str]) -> None:
    # PEP 639: wheels carry license files under .dist-info/licenses/, sdists at their path.
    base = posixpath.dirname(artifact.metadata_path)
    if artifact.packagetype == "bdist_wheel":
        base = f"{base}/licenses"
    for license_file in license_files:
        if f"{base}/{license_file}" not in artifact.member_names:
            raise UploadError(
                f"License-File {shown(license_file)} does not exist in distribution file "
                f"{shown(artifact.filename)} at {shown(f'{base}/{license_file}')}."
            )
