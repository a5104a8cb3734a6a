"""A corpus of hostile uploads: archives built byte by byte to be refused.

Each sample is made in memory (nothing binary is checked in) from a small valid wheel or
sdist of the project ``hostile`` 1.0, then broken one way: the ZIP parser differentials
Warehouse refuses (local headers against the central directory, data before, between and
after the entries, overlapping entries, zip64 records that disagree, duplicate names), links
and devices, absolute and ``..`` paths, encryption, bombs, a wheel whose RECORD lies, and
tar sdists with the same faults. Each names the sentence the upload API must answer with.

    python -m tests.corpus.hostile OUTDIR     # writes every sample, for a look with other tools
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import stat
import struct
import sys
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

NAME = "hostile"
VERSION = "1.0"
WHEEL = f"{NAME}-{VERSION}-py3-none-any.whl"
SDIST = f"{NAME}-{VERSION}.tar.gz"
SDIST_ZIP = f"{NAME}-{VERSION}.zip"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
TOP = f"{NAME}-{VERSION}"
METADATA = (
    f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\nSummary: An example project\n\n"
).encode()
WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: corpus\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
# Uploads in the corpus test are limited to this (the "too large" sample is just over it).
MAX_FILE_SIZE = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Sample:
    id: str
    filename: str
    content: bytes
    status: int
    # A fragment of the one-line answer twine shows.
    message: str
    # Form fields to change (e.g. a wrong digest); the others describe the file honestly.
    form: dict[str, str] = dataclasses.field(default_factory=dict)

    def fields(self) -> list[tuple[str, str]]:
        """The form twine would send with this file, with the sample's changes."""
        wheel = self.filename.endswith(".whl")
        fields = {
            ":action": "file_upload",
            "protocol_version": "1",
            "metadata_version": "2.1",
            "name": NAME,
            "version": VERSION,
            "summary": "An example project",
            "filetype": "bdist_wheel" if wheel else "sdist",
            "pyversion": "py3" if wheel else "source",
            "sha256_digest": hashlib.sha256(self.content).hexdigest(),
            "blake2_256_digest": hashlib.blake2b(self.content, digest_size=32).hexdigest(),
        }
        return list({**fields, **self.form}.items())


# --- A ZIP writer that can lie -----------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    name: str
    data: bytes
    method: int = 8  # deflate
    flags: int = 0
    external: int = 0o644 << 16
    made_by: int = (3 << 8) | 20  # unix
    descriptor: bool = False
    # Overrides of what the local header or the central directory says (None: the truth).
    local_name: bytes | None = None
    local_method: int | None = None
    local_crc: int | None = None
    local_size: int | None = None
    local_compressed_size: int | None = None
    central_crc: int | None = None
    central_size: int | None = None
    central_offset: int | None = None
    descriptor_crc: int | None = None
    zip64_central_sizes_without_extra: bool = False

    def compressed(self) -> bytes:
        if self.method == 8:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            return compressor.compress(self.data) + compressor.flush()
        return self.data


def _pick(value, default):
    return default if value is None else value


def build_zip(
    entries: list[Entry],
    *,
    prefix: bytes = b"",
    between: bytes = b"",
    before_directory: bytes = b"",
    comment: bytes = b"",
    declared_comment_length: int | None = None,
    trailer: bytes = b"",
    entry_count: int | None = None,
    directory_size_delta: int = 0,
    directory_offset_delta: int = 0,
    disk: int = 0,
    zip64: str | None = None,
) -> bytes:
    """A ZIP of `entries`, honest unless told otherwise by the entries or the arguments.

    zip64: None; "sentinels" (end record says "see zip64" with no zip64 records); "disagree"
    (a zip64 end record whose count differs from the end record's); "bad-locator" (a locator
    that points at the wrong place).
    """
    out = bytearray(prefix)
    central = bytearray()
    for index, entry in enumerate(entries):
        if index:
            out += between
        name = entry.name.encode()
        data = entry.compressed()
        crc = zlib.crc32(entry.data)
        offset = len(out)
        local_sizes = (0, 0, 0) if entry.descriptor else (crc, len(data), len(entry.data))
        local_name = _pick(entry.local_name, name)
        out += struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            entry.flags | (0x08 if entry.descriptor else 0),
            _pick(entry.local_method, entry.method),
            0,
            0x21,
            _pick(entry.local_crc, local_sizes[0]),
            _pick(entry.local_compressed_size, local_sizes[1]),
            _pick(entry.local_size, local_sizes[2]),
            len(local_name),
            0,
        )
        out += local_name + data
        if entry.descriptor:
            out += struct.pack(
                "<4sIII",
                b"PK\x07\x08",
                _pick(entry.descriptor_crc, crc),
                len(data),
                len(entry.data),
            )
        central_size = _pick(entry.central_size, len(entry.data))
        compressed_size = len(data)
        if entry.zip64_central_sizes_without_extra:
            central_size = compressed_size = 0xFFFFFFFF
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            entry.made_by,
            20,
            entry.flags | (0x08 if entry.descriptor else 0),
            entry.method,
            0,
            0x21,
            _pick(entry.central_crc, crc),
            compressed_size,
            central_size,
            len(name),
            0,
            0,
            0,
            0,
            entry.external,
            _pick(entry.central_offset, offset),
        )
        central += name
    out += before_directory
    directory_offset = len(out)
    out += central
    count = _pick(entry_count, len(entries))
    size = len(central) + directory_size_delta
    offset = directory_offset + directory_offset_delta
    if zip64 in ("disagree", "bad-locator"):
        record_offset = len(out)
        out += struct.pack(
            "<4sQHHIIQQQQ",
            b"PK\x06\x06",
            44,
            45,
            45,
            0,
            0,
            count + (1 if zip64 == "disagree" else 0),
            count + (1 if zip64 == "disagree" else 0),
            size,
            offset,
        )
        locator_target = record_offset + (7 if zip64 == "bad-locator" else 0)
        out += struct.pack("<4sIQI", b"PK\x06\x07", 0, locator_target, 1)
    if zip64 == "sentinels":
        size, offset = 0xFFFFFFFF, 0xFFFFFFFF
    out += struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        disk,
        disk,
        count,
        count,
        size,
        offset,
        _pick(declared_comment_length, len(comment)),
    )
    out += comment + trailer
    return bytes(out)


def _record(files: dict[str, bytes]) -> bytes:
    rows = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}\n")
    return ("".join(rows) + f"{DIST_INFO}/RECORD,,\n").encode()


def wheel_files(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    files = {
        f"{NAME}/__init__.py": b"VALUE = 1\n",
        f"{DIST_INFO}/METADATA": METADATA,
        f"{DIST_INFO}/WHEEL": WHEEL_FILE,
        **(extra or {}),
    }
    return {**files, f"{DIST_INFO}/RECORD": _record(files)}


def wheel_entries(extra: dict[str, bytes] | None = None) -> list[Entry]:
    return [Entry(name, data) for name, data in wheel_files(extra).items()]


def wheel(**kwargs) -> bytes:
    return build_zip(wheel_entries(), **kwargs)


def altered(change: Callable[[list[Entry]], None], extra=None) -> bytes:
    entries = wheel_entries(extra)
    change(entries)
    return build_zip(entries)


def _set(index: int, **values) -> Callable[[list[Entry]], None]:
    def change(entries: list[Entry]) -> None:
        for key, value in values.items():
            setattr(entries[index], key, value)

    return change


def _wheel_with_record(files: dict[str, bytes], record: bytes) -> bytes:
    entries = [Entry(name, data) for name, data in files.items()]
    entries.append(Entry(f"{DIST_INFO}/RECORD", record))
    return build_zip(entries)


def _lying_record(transform: Callable[[str], str]) -> bytes:
    files = wheel_files()
    record = files.pop(f"{DIST_INFO}/RECORD").decode()
    return _wheel_with_record(files, transform(record).encode())


def _sdist_zip(**kwargs) -> bytes:
    entries = [
        Entry(f"{TOP}/PKG-INFO", METADATA),
        Entry(f"{TOP}/setup.py", b"from setuptools import setup\nsetup()\n"),
    ]
    return build_zip(entries, **kwargs)


# --- tar ---------------------------------------------------------------------------------------


def tar_gz(*members: tuple[tarfile.TarInfo, bytes | None], pkg_info: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        top = tarfile.TarInfo(TOP)
        top.type = tarfile.DIRTYPE
        archive.addfile(top)
        if pkg_info:
            info = tarfile.TarInfo(f"{TOP}/PKG-INFO")
            info.size = len(METADATA)
            archive.addfile(info, io.BytesIO(METADATA))
        for member, content in members:
            if content is not None:
                member.size = len(content)
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _zeros_tar_gz(size: int) -> bytes:
    """A tar.gz bomb: a member of `size` zero bytes, compressed as far as gzip goes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        top = tarfile.TarInfo(TOP)
        top.type = tarfile.DIRTYPE
        archive.addfile(top)
        info = tarfile.TarInfo(f"{TOP}/PKG-INFO")
        info.size = len(METADATA)
        archive.addfile(info, io.BytesIO(METADATA))
        zeros = tarfile.TarInfo(f"{TOP}/zeros")
        zeros.size = size
        archive.addfile(zeros, io.BytesIO(bytes(size)))
    return gzip.compress(raw.getvalue(), compresslevel=9)


# --- The samples -------------------------------------------------------------------------------

INVALID = "Invalid distribution file"


def _zip_samples() -> list[Sample]:
    def bad(sample_id: str, content: bytes, message: str, filename: str = WHEEL) -> Sample:
        return Sample(sample_id, filename, content, 400, message)

    first_two_at_same_offset = wheel_entries()
    first_two_at_same_offset[1].central_offset = 0
    inside_first = wheel_entries()
    inside_first[1].central_offset = 10
    return [
        bad(
            "zip-prepended-data",
            _shifted(wheel(), b"MZ\x90\x00" + bytes(60)),
            "data before the first entry",
        ),
        bad("zip-data-between-entries", wheel(between=b"hidden payload"), "data between entries"),
        bad(
            "zip-data-before-directory",
            wheel(before_directory=b"import os; os.system('x')\n"),
            "between its last entry and its central directory",
        ),
        bad(
            "zip-trailing-data",
            wheel(trailer=b"trailing bytes"),
            "data follows the end of the archive",
        ),
        bad(
            "zip-comment-length-too-long",
            wheel(comment=b"hi", declared_comment_length=40),
            "data follows the end of the archive",
        ),
        bad(
            "zip-comment-length-too-short",
            wheel(comment=b"a longer comment", declared_comment_length=3),
            "data follows the end of the archive",
        ),
        bad(
            "zip-comment-hides-end-record",
            wheel(comment=b"PK\x05\x06" + bytes(18)),
            INVALID,
        ),
        bad("zip-concatenated-archives", wheel() + wheel(), INVALID),
        bad(
            "zip-local-name-differs",
            altered(_set(0, local_name=b"hostile/evil.py")),
            "names another file ('hostile/evil.py')",
        ),
        bad("zip-local-method-differs", altered(_set(0, local_method=0)), "flags or compression"),
        bad("zip-local-crc-differs", altered(_set(0, local_crc=1234)), "on its CRC or sizes"),
        bad("zip-local-size-differs", altered(_set(0, local_size=99)), "on its CRC or sizes"),
        bad(
            "zip-local-compressed-size-differs",
            altered(_set(0, local_compressed_size=5)),
            "on its CRC or sizes",
        ),
        bad(
            "zip-crc-wrong-everywhere",
            altered(_set(0, central_crc=1, local_crc=1)),
            "it is not a valid zip archive",
        ),
        bad("zip-central-size-lies", altered(_set(0, central_size=3)), "on its CRC or sizes"),
        bad(
            "zip-overlap-same-local-header",
            build_zip(first_two_at_same_offset),
            "overlaps another entry",
        ),
        bad("zip-overlap-inside-data", build_zip(inside_first), INVALID),
        bad("zip-entry-count-too-high", wheel(entry_count=5), "does not hold the entries"),
        bad("zip-entry-count-too-low", wheel(entry_count=3), "does not hold the entries"),
        bad(
            "zip-directory-size-wrong",
            wheel(directory_size_delta=-10),
            "does not end where its end record begins",
        ),
        bad(
            "zip-directory-offset-wrong",
            wheel(directory_offset_delta=4),
            "does not end where its end record begins",
        ),
        bad("zip-multi-disk", wheel(disk=1), "spans more than one disk"),
        bad(
            "zip64-sentinels-without-records",
            wheel(zip64="sentinels"),
            "zip64 records that are missing",
        ),
        bad("zip64-record-disagrees", wheel(zip64="disagree"), "zip64 end record disagrees"),
        bad("zip64-locator-points-elsewhere", wheel(zip64="bad-locator"), "zip64 end record"),
        bad(
            "zip64-sizes-without-extra-field",
            altered(_set(0, zip64_central_sizes_without_extra=True)),
            "zip64 field that is missing",
        ),
        bad(
            "zip-encrypted-member",
            altered(_set(0, flags=0x01)),
            "'hostile/__init__.py' is encrypted",
        ),
        bad("zip-strong-encryption", altered(_set(0, flags=0x41)), "is encrypted"),
        bad(
            "zip-symlink-member",
            altered(_set(0, external=(stat.S_IFLNK | 0o777) << 16)),
            "is a symbolic link",
        ),
        bad(
            "zip-device-member",
            altered(_set(0, external=(stat.S_IFCHR | 0o644) << 16)),
            "is a device file",
        ),
        bad(
            "zip-fifo-member", altered(_set(0, external=(stat.S_IFIFO | 0o644) << 16)), "is a FIFO"
        ),
        bad(
            "zip-duplicate-names",
            build_zip([*wheel_entries(), Entry(f"{NAME}/__init__.py", b"import evil\n")]),
            "duplicate member 'hostile/__init__.py'",
        ),
        bad(
            "zip-duplicate-after-normalizing",
            build_zip([*wheel_entries(), Entry(f"{NAME}//__init__.py", b"import evil\n")]),
            "duplicate member",
        ),
        bad(
            "zip-absolute-path",
            build_zip([*wheel_entries(), Entry("/etc/cron.d/x", b"*")]),
            "unsafe member path",
        ),
        bad(
            "zip-dotdot-path",
            build_zip([*wheel_entries(), Entry("../../x.pth", b"*")]),
            "unsafe member path",
        ),
        bad(
            "zip-backslash-dotdot-path",
            build_zip([*wheel_entries(), Entry("..\\..\\x.pth", b"*")]),
            "unsafe member path",
        ),
        bad(
            "zip-drive-path",
            build_zip([*wheel_entries(), Entry("C:/x.pth", b"*")]),
            "unsafe member path",
        ),
        bad(
            "zip-nul-in-name",
            build_zip([*wheel_entries(), Entry("a\x00.py", b"*")]),
            "unsafe member path",
        ),
        bad(
            "zip-descriptor-lies",
            altered(_set(0, descriptor=True, descriptor_crc=7)),
            "on its CRC or sizes",
        ),
        bad("zip-unknown-compression", altered(_set(0, method=99)), INVALID),
        bad(
            "zip-bomb",
            build_zip([*wheel_entries(), Entry(f"{NAME}/zeros", bytes(24 * 1024 * 1024))]),
            "compression ratio is suspiciously high",
        ),
        bad("zip-garbage", b"PK\x03\x04" + bytes(range(256)) * 8, "it is not a valid zip archive"),
        bad("zip-empty-file", b"", "it is not a valid zip archive"),
        bad(
            "sdist-zip-prepended-data",
            _shifted(_sdist_zip(), b"#!/bin/sh\nexit 0\n"),
            "data before the first entry",
            SDIST_ZIP,
        ),
        bad("sdist-zip-trailing-data", _sdist_zip(trailer=b"x" * 10), "data follows", SDIST_ZIP),
    ]


def _shifted(archive: bytes, prefix: bytes) -> bytes:
    """`archive` after `prefix`, every offset moved to match (a self-extractor's layout)."""
    out = bytearray(prefix + archive)
    shift = len(prefix)
    end = out.rfind(b"PK\x05\x06")
    (directory_offset,) = struct.unpack_from("<I", out, end + 16)
    struct.pack_into("<I", out, end + 16, directory_offset + shift)
    position = directory_offset + shift
    while out[position : position + 4] == b"PK\x01\x02":
        (offset,) = struct.unpack_from("<I", out, position + 42)
        struct.pack_into("<I", out, position + 42, offset + shift)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", out, position + 28)
        position += 46 + name_length + extra_length + comment_length
    return bytes(out)


def _record_samples() -> list[Sample]:
    def lie(sample_id: str, content: bytes, message: str) -> Sample:
        return Sample(sample_id, WHEEL, content, 400, message)

    files = wheel_files()
    record = files.pop(f"{DIST_INFO}/RECORD")
    unlisted = {**files, f"{NAME}/sneaky.py": b"import os\n"}
    return [
        lie(
            "record-wrong-hash",
            _lying_record(lambda r: r.replace("sha256=", "sha256=AAAA", 1)),
            "has the wrong hash of 'hostile/__init__.py'",
        ),
        lie(
            "record-wrong-size",
            _lying_record(lambda r: r.replace(",10\n", ",11\n", 1)),
            "has the wrong size of 'hostile/__init__.py'",
        ),
        lie(
            "record-missing-member",
            _wheel_with_record(unlisted, record),
            "does not list 'hostile/sneaky.py'",
        ),
        lie(
            "record-lists-absent-file",
            _lying_record(lambda r: r + "hostile/gone.py,sha256=AAAA,1\n"),
            "lists 'hostile/gone.py', which is not in the wheel",
        ),
        lie(
            "record-md5-hash",
            _lying_record(lambda r: r.replace("sha256=", "md5=", 1)),
            "no sha256 (or stronger) hash",
        ),
        lie(
            "record-no-hash",
            _lying_record(lambda r: r.replace(r.split(",")[1], "", 1)),
            "no sha256 (or stronger) hash",
        ),
        lie(
            "record-duplicate-row",
            _lying_record(lambda r: r.splitlines(keepends=True)[0] + r),
            "lists 'hostile/__init__.py' twice",
        ),
        lie(
            "record-not-utf8",
            _wheel_with_record(files, b"\xff\xfe,,\n"),
            "not valid UTF-8",
        ),
        lie(
            "record-short-row",
            _lying_record(lambda r: "hostile/__init__.py,x\n" + r),
            "a row of 2 fields",
        ),
        lie(
            "record-absent",
            build_zip([Entry(n, d) for n, d in files.items()]),
            "does not contain the required RECORD file",
        ),
        lie(
            "wheel-two-dist-info",
            build_zip([*wheel_entries(), Entry("other-1.0.dist-info/METADATA", METADATA)]),
            "more than one .dist-info directory",
        ),
        lie(
            "wheel-without-wheel-file",
            build_zip([Entry(n, d) for n, d in files.items() if not n.endswith("/WHEEL")]),
            "does not contain the required WHEEL file",
        ),
    ]


def _tar_samples() -> list[Sample]:
    def bad(sample_id: str, content: bytes, message: str) -> Sample:
        return Sample(sample_id, SDIST, content, 400, message)

    return [
        bad(
            "tar-symlink-escapes",
            tar_gz((member(f"{TOP}/link", tarfile.SYMTYPE, "../../etc/passwd"), None)),
            "points outside the archive",
        ),
        bad(
            "tar-absolute-symlink",
            tar_gz((member(f"{TOP}/link", tarfile.SYMTYPE, "/etc/passwd"), None)),
            "points outside the archive",
        ),
        bad(
            "tar-hardlink-escapes",
            tar_gz((member(f"{TOP}/hard", tarfile.LNKTYPE, "etc/passwd"), None)),
            "points outside the archive",
        ),
        bad(
            "tar-char-device",
            tar_gz((member(f"{TOP}/tty", tarfile.CHRTYPE), None)),
            "device file or FIFO",
        ),
        bad(
            "tar-block-device",
            tar_gz((member(f"{TOP}/sda", tarfile.BLKTYPE), None)),
            "device file or FIFO",
        ),
        bad(
            "tar-fifo",
            tar_gz((member(f"{TOP}/pipe", tarfile.FIFOTYPE), None)),
            "device file or FIFO",
        ),
        bad("tar-absolute-path", tar_gz((member("/tmp/evil.py"), b"x")), "unsafe member path"),
        bad(
            "tar-dotdot-path", tar_gz((member(f"{TOP}/../../evil.py"), b"x")), "unsafe member path"
        ),
        bad(
            "tar-duplicate-member",
            tar_gz((member(f"{TOP}/PKG-INFO"), b"Metadata-Version: 2.1\nName: other\n")),
            "duplicate member",
        ),
        bad(
            "tar-link-then-file-through-it",
            tar_gz(
                (member(f"{TOP}/dir", tarfile.SYMTYPE, "."), None),
                (member(f"{TOP}/dir"), b"x"),
            ),
            "duplicate member",
        ),
        bad(
            "tar-trailing-garbage",
            tar_gz() + b"not gzip at all",
            "it is not a valid tar.gz archive",
        ),
        bad(
            "tar-truncated", tar_gz((member(f"{TOP}/a.py"), bytes(range(256)) * 50))[:-40], INVALID
        ),
        bad("tar-bomb", _zeros_tar_gz(24 * 1024 * 1024), "compression ratio is suspiciously high"),
        bad(
            "tar-two-top-level-directories",
            tar_gz((member("other-1.0/setup.py"), b"x")),
            "must contain a single top-level directory",
        ),
        bad(
            "tar-without-pkg-info",
            tar_gz((member(f"{TOP}/setup.py"), b"x"), pkg_info=False),
            "PKG-INFO",
        ),
        bad("tar-zip-in-disguise", wheel(), "it is not a valid tar.gz archive"),
    ]


def _request_samples() -> list[Sample]:
    honest = build_zip(wheel_entries())
    return [
        Sample(
            "too-large",
            WHEEL,
            build_zip(wheel_entries({f"{NAME}/noise.bin": _noise(MAX_FILE_SIZE + 1024)})),
            413,
            "File too large",
        ),
        Sample(
            "digest-lies",
            WHEEL,
            honest,
            400,
            "The digest supplied does not match",
            form={"sha256_digest": "0" * 64},
        ),
        Sample(
            "metadata-disagrees-with-form",
            WHEEL,
            honest,
            400,
            "does not match the form field",
            form={"requires_python": ">=3.99"},
        ),
    ]


def _noise(size: int) -> bytes:
    """Incompressible bytes, the same every time."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:size])


def samples() -> list[Sample]:
    return [*_zip_samples(), *_record_samples(), *_tar_samples(), *_request_samples()]


def main(argv: list[str]) -> None:
    out = Path(argv[1] if len(argv) > 1 else "hostile-corpus")
    out.mkdir(parents=True, exist_ok=True)
    for sample in samples():
        (out / f"{sample.id}--{sample.filename}").write_bytes(sample.content)
    print(f"wrote {len(samples())} samples to {out}")


if __name__ == "__main__":
    main(sys.argv)
