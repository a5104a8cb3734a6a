"""Read distribution archives in memory, within limits, never extracting and never following links.

sdists (tar, tar.gz, tar.bz2, tar.xz, zip), wheels and eggs (zip), and archives nested inside them
down to ``Limits.max_depth`` are walked once, in order. Each member the caller asks for is read
into memory (at most ``max_member_size`` bytes) and handed back; everything unusual about the
archive itself (links, devices, paths escaping the archive, bombs, too many members, corrupt
data) is reported through ``report`` as a rule id with a member and a detail, and never acted on.

Tar members are read in stream mode, so a tar is decompressed once from start to end; zip
members are opened one by one from the central directory, so a zip member nobody asked for is
never decompressed at all.
"""

from __future__ import annotations

import dataclasses
import io
import lzma
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

NESTED_SUFFIXES = (
    ".zip", ".whl", ".egg", ".jar",
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz",
)  # fmt: skip

# Read nothing / only enough to tell the kind of file / the whole member (up to the size limit).
SKIP = 0
HEAD = 16
WHOLE = -1


@dataclasses.dataclass(frozen=True)
class Limits:
    max_members: int = 50_000
    max_member_size: int = 32 * 1024 * 1024
    max_total_size: int = 1024 * 1024 * 1024
    max_ratio: int = 200
    # Ratios are only judged past this much decompressed data: small members compress absurdly
    # well (a file of spaces) without being bombs.
    ratio_floor: int = 8 * 1024 * 1024
    max_depth: int = 5


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    path: str  # display path, nested archives joined with "!"
    name: str  # the name inside its own archive
    size: int  # declared uncompressed size
    data: bytes  # what was read: b"" for SKIP, the head for HEAD, the whole (or a prefix) for WHOLE
    truncated: bool  # data is shorter than the member
    depth: int  # 0 for members of the file itself


Report = Callable[[str, str | None, str], None]
Wanted = Callable[[str, int], int]


class _StopScan(Exception):
    """A limit that ends the whole walk (members, total size) was reached."""


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.members = 0
        self.bytes = 0

    def count_member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise _StopScan(f"more than {self.limits.max_members} members")

    def count_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_total_size:
            raise _StopScan(f"more than {self.limits.max_total_size} bytes uncompressed")


class _CountingReader(io.RawIOBase):
    """Counts the compressed bytes a decompressor has pulled, to judge the expansion ratio."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


def archive_kind(head: bytes, name: str = "") -> str | None:
    """``zip``, ``tar`` or None, from the first bytes (and the name for uncompressed tars)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if name.lower().endswith(".tar"):
        return "tar"
    return None


def is_nested_archive(name: str) -> bool:
    return name.lower().endswith(NESTED_SUFFIXES)


def escapes(name: str) -> bool:
    """True for a member name that would land outside the extraction directory."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def link_escapes(member_name: str, target: str) -> bool:
    if target.startswith(("/", "\\")) or (len(target) > 1 and target[1] == ":"):
        return True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(member_name), target))
    return joined == ".." or joined.startswith("../")


def walk(
    fileobj: BinaryIO,
    name: str,
    wanted: Wanted,
    report: Report,
    limits: Limits = Limits(),
) -> Iterator[Member]:
    """Yield the members of the archive in ``fileobj`` (and of archives nested in it) that
    ``wanted(name, size)`` asks for. Nothing in the archive is executed or written anywhere."""
    budget = _Budget(limits)
    try:
        yield from _walk(fileobj, name, "", 0, wanted, report, budget)
    except _StopScan as exc:
        report("archive-limit", None, str(exc))


def _walk(fileobj, name, prefix, depth, wanted, report, budget) -> Iterator[Member]:
    head = fileobj.read(512)
    fileobj.seek(0)
    kind = archive_kind(head, name)
    try:
        if kind == "zip":
            yield from _walk_zip(fileobj, prefix, depth, wanted, report, budget)
        elif kind == "tar":
            yield from _walk_tar(fileobj, prefix, depth, wanted, report, budget)
        else:
            report("archive-corrupt", prefix.rstrip("!") or None, f"{name} is not a zip or tar")
    except _StopScan:
        raise
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        report("archive-corrupt", prefix.rstrip("!") or None, f"{type(exc).__name__}: {exc}")


def _check_name(member_name: str, display: str, seen: set[str], report: Report) -> None:
    if escapes(member_name):
        report("archive-traversal", display, member_name)
    if member_name in seen:
        report("archive-duplicate", display, member_name)
    seen.add(member_name)


def _nested(data, member_name, display, depth, wanted, report, budget, truncated):
    if depth + 1 > budget.limits.max_depth:
        report("archive-limit", display, f"archive nested deeper than {budget.limits.max_depth}")
        return
    if truncated:
        report("archive-limit", display, "nested archive larger than the member size limit")
        return
    yield from _walk(
        io.BytesIO(data), member_name, display + "!", depth + 1, wanted, report, budget
    )


def _walk_zip(fileobj, prefix, depth, wanted, report, budget) -> Iterator[Member]:
    limits = budget.limits
    with zipfile.ZipFile(fileobj) as archive:
        seen: set[str] = set()
        for info in archive.infolist():
            budget.count_member()
            member_name = info.filename
            display = prefix + member_name
            _check_name(member_name, display, seen, report)
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            if info.create_system == 3 and mode:
                if stat.S_ISLNK(mode):
                    # A zip symlink's target is its data; read it (small) to judge, never follow.
                    target = archive.open(info).read(4096).decode("utf-8", "replace")
                    rule = (
                        "archive-link-escape"
                        if link_escapes(member_name, target)
                        else "archive-link"
                    )
                    report(rule, display, f"{member_name} -> {target}")
                    continue
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    report("archive-special-member", display, f"{member_name} (mode {mode:o})")
                    continue
            if info.flag_bits & 0x1:
                report("archive-encrypted", display, member_name)
                continue
            if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                report(
                    "archive-limit",
                    display,
                    f"compression ratio {info.file_size // max(info.compress_size, 1)}:1 "
                    f"({info.file_size} bytes): not read",
                )
                continue
            nested = is_nested_archive(member_name)
            want = WHOLE if nested else wanted(member_name, info.file_size)
            if want == SKIP:
                continue
            cap = limits.max_member_size if want == WHOLE else want
            with archive.open(info) as stream:
                data = stream.read(cap + 1)
            truncated = len(data) > cap or (want == WHOLE and len(data) < info.file_size)
            data = data[:cap]
            budget.count_bytes(len(data))
            if nested:
                yield from _nested(
                    data, member_name, display, depth, wanted, report, budget, truncated
                )
                continue
            yield Member(display, member_name, info.file_size, data, truncated, depth)


def _walk_tar(fileobj, prefix, depth, wanted, report, budget) -> Iterator[Member]:
    limits = budget.limits
    counter = _CountingReader(fileobj)
    raw = io.BufferedReader(counter, 64 * 1024)
    seen: set[str] = set()
    with tarfile.open(fileobj=raw, mode="r|*") as archive:
        for info in archive:
            budget.count_member()
            member_name = info.name
            display = prefix + member_name
            _check_name(member_name, display, seen, report)
            # The whole member is decompressed, read or skipped: count it against the budget
            # before tarfile does the work, so one huge member cannot run past the limit.
            budget.count_bytes(info.size)
            decompressed = info.offset_data + info.size
            if decompressed > limits.ratio_floor and decompressed > limits.max_ratio * max(
                counter.consumed, 1
            ):
                report(
                    "archive-limit",
                    display,
                    f"compression ratio over {limits.max_ratio}:1 ({decompressed} bytes): "
                    "rest not read",
                )
                return
            if info.issym() or info.islnk():
                rule = (
                    "archive-link-escape"
                    if link_escapes(member_name, info.linkname)
                    else "archive-link"
                )
                kind = "symlink" if info.issym() else "hardlink"
                report(rule, display, f"{kind} {member_name} -> {info.linkname}")
                continue
            if info.isdir():
                continue
            if not info.isfile():
                report("archive-special-member", display, f"{member_name} (tar type {info.type!r})")
                continue
            nested = is_nested_archive(member_name)
            want = WHOLE if nested else wanted(member_name, info.size)
            if want == SKIP:
                continue
            cap = limits.max_member_size if want == WHOLE else want
            stream = archive.extractfile(info)
            data = stream.read(min(cap, info.size)) if stream else b""
            truncated = info.size > len(data)
            if nested:
                yield from _nested(
                    data, member_name, display, depth, wanted, report, budget, truncated
                )
                continue
            yield Member(display, member_name, info.size, data, truncated, depth)
