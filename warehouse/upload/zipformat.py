"""The byte layout of an uploaded ZIP, checked before any parser trusts it.

ZIP parsers disagree about malformed archives: one reads the central directory, another
walks the local headers from the start, a third finds the first end-of-central-directory
record rather than the last. A file that is one wheel to the index and another to an
installer is an attack, so an upload must be a ZIP every parser reads the same way:

* exactly one end record, at the very end (a comment may follow it, nothing else), on one
  disk, and with zip64 records, if any, that agree with it;
* a central directory that ends where the end records begin and holds the number of
  entries they say;
* entries that start at byte 0 and follow each other with no byte before, between or after
  them (so no prepended data, no overlapping entries as in CVE-2024-0450's quoted-overlap
  bombs, no hidden data between the last entry and the directory);
* each local header naming the same file, with the same flags, compression, CRC and sizes
  as its central directory entry (or its data descriptor, when the sizes follow the data);
* no encrypted entries, and no links, devices or FIFOs.

Reads only headers: the central directory once, then each local header (tens of bytes),
so it costs little next to inflating the members (which checks their CRCs).
"""

from __future__ import annotations

import dataclasses
import mmap
import stat
import struct
from pathlib import Path

from warehouse.upload.metadata import shown

_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_ZIP64_EXTRA_ID = 0x0001
_MAX_COMMENT = 0xFFFF

_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_STRONG_ENCRYPTION = 0x0040
_FLAG_UTF8 = 0x0800
_FLAG_MASKED_HEADERS = 0x2000
# The flags that change how an entry is read; writers may differ on the others.
_COMPARED_FLAGS = (
    _FLAG_ENCRYPTED
    | _FLAG_DATA_DESCRIPTOR
    | _FLAG_STRONG_ENCRYPTION
    | _FLAG_UTF8
    | _FLAG_MASKED_HEADERS
)
_SYSTEM_UNIX = 3
_REFUSED_FILE_TYPES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a device file",
    stat.S_IFBLK: "a device file",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


class ZipLayoutError(Exception):
    """The archive is malformed or ambiguous; the message says how, for the uploader."""


@dataclasses.dataclass
class _Entry:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    offset: int
    zip64: bool


def _zip64_values(extra: bytes, wanted: list[str]) -> dict[str, int]:
    """The 8-byte values of the zip64 extra field, in the order the header's sentinels ask."""
    position = 0
    while position + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if len(body) != length:
            break
        if header_id == _ZIP64_EXTRA_ID:
            if len(body) < 8 * len(wanted):
                raise ZipLayoutError("a zip64 extra field is too short for its entry")
            return {key: struct.unpack_from("<Q", body, 8 * i)[0] for i, key in enumerate(wanted)}
        position += 4 + length
    if wanted:
        raise ZipLayoutError("an entry says its sizes are in a zip64 field that is missing")
    return {}


def _decode_name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", errors="replace")


def _read_exactly(stream, offset: int, length: int) -> bytes:
    if offset < 0 or offset + length > len(stream):
        raise ZipLayoutError("a header points past the end of the file")
    return stream[offset : offset + length]


def _find_end_record(stream: mmap.mmap, size: int) -> tuple[int, tuple]:
    tail_length = min(size, _EOCD.size + _MAX_COMMENT)
    tail = _read_exactly(stream, size - tail_length, tail_length)
    position = tail.rfind(_EOCD_SIGNATURE)
    while position >= 0:
        if position + _EOCD.size <= len(tail):
            record = _EOCD.unpack_from(tail, position)
            if position + _EOCD.size + record[7] == len(tail):
                comment = tail[position + _EOCD.size :]
                if _EOCD_SIGNATURE in comment or _CENTRAL_SIGNATURE in comment:
                    raise ZipLayoutError("its comment holds ZIP records")
                return size - tail_length + position, record
        position = tail.rfind(_EOCD_SIGNATURE, 0, position)
    if _EOCD_SIGNATURE in tail:
        raise ZipLayoutError("data follows the end of the archive")
    raise ZipLayoutError("it is not a valid zip archive")


def _central_directory_bounds(stream: mmap.mmap, size: int) -> tuple[int, int, int]:
    """(entries, offset, end) of the central directory, from the end records."""
    eocd_offset, eocd = _find_end_record(stream, size)
    _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, _ = eocd
    directory_end = eocd_offset
    locator_offset = eocd_offset - _ZIP64_LOCATOR.size
    has_locator = (
        locator_offset >= 0 and _read_exactly(stream, locator_offset, 4) == _ZIP64_LOCATOR_SIGNATURE
    )
    if has_locator:
        _, locator_disk, record_offset, disks = _ZIP64_LOCATOR.unpack(
            _read_exactly(stream, locator_offset, _ZIP64_LOCATOR.size)
        )
        if locator_disk != 0 or disks != 1:
            raise ZipLayoutError("it spans more than one disk")
        if record_offset + _ZIP64_EOCD.size > locator_offset:
            raise ZipLayoutError("its zip64 end record is not before its locator")
        record = _ZIP64_EOCD.unpack(_read_exactly(stream, record_offset, _ZIP64_EOCD.size))
        (signature, record_size, _, _, disk64, cd_disk64, disk_entries64, entries64) = record[:8]
        cd_size64, cd_offset64 = record[8:]
        if signature != _ZIP64_EOCD_SIGNATURE or record_offset + 12 + record_size != locator_offset:
            raise ZipLayoutError("its zip64 end record is malformed")
        if disk64 != 0 or cd_disk64 != 0 or disk_entries64 != entries64:
            raise ZipLayoutError("it spans more than one disk")
        # A 16- or 32-bit field either holds the value or says "see zip64": never another one.
        for value, value64, sentinel in (
            (entries, entries64, 0xFFFF),
            (disk_entries, disk_entries64, 0xFFFF),
            (cd_size, cd_size64, 0xFFFFFFFF),
            (cd_offset, cd_offset64, 0xFFFFFFFF),
        ):
            if value != sentinel and value != value64:
                raise ZipLayoutError("its zip64 end record disagrees with its end record")
        entries, cd_size, cd_offset = entries64, cd_size64, cd_offset64
        directory_end = record_offset
    else:
        if 0xFFFF in (disk, cd_disk) or 0xFFFFFFFF in (cd_size, cd_offset) or entries == 0xFFFF:
            raise ZipLayoutError("its end record points to zip64 records that are missing")
        if disk != 0 or cd_disk != 0 or disk_entries != entries:
            raise ZipLayoutError("it spans more than one disk")
    if cd_offset + cd_size != directory_end:
        raise ZipLayoutError("its central directory does not end where its end record begins")
    return entries, cd_offset, directory_end


def _central_entries(stream: mmap.mmap, count: int, start: int, end: int) -> list[_Entry]:
    directory = _read_exactly(stream, start, end - start)
    entries: list[_Entry] = []
    position = 0
    while position < len(directory):
        if position + _CENTRAL.size > len(directory):
            raise ZipLayoutError("its central directory is truncated")
        fields = _CENTRAL.unpack_from(directory, position)
        (signature, made_by, _, flags, method, _, _, crc, csize, usize) = fields[:10]
        name_length, extra_length, comment_length, disk, _, external, offset = fields[10:]
        if signature != _CENTRAL_SIGNATURE:
            raise ZipLayoutError("its central directory holds something other than entries")
        name_start = position + _CENTRAL.size
        raw_name = directory[name_start : name_start + name_length]
        extra = directory[name_start + name_length : name_start + name_length + extra_length]
        position = name_start + name_length + extra_length + comment_length
        if position > len(directory):
            raise ZipLayoutError("its central directory is truncated")
        name = _decode_name(raw_name, flags)
        if b"\x00" in raw_name:
            # Some parsers end the name at the NUL, others keep it: two files in one.
            raise ZipLayoutError(f"unsafe member path {shown(name)}")
        wanted = [
            key
            for key, value in (("size", usize), ("compressed_size", csize), ("offset", offset))
            if value == 0xFFFFFFFF
        ]
        if disk == 0xFFFF:
            wanted.append("disk")
        zip64 = _zip64_values(extra, wanted)
        if flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION | _FLAG_MASKED_HEADERS):
            raise ZipLayoutError(f"{shown(name)} is encrypted")
        if made_by >> 8 == _SYSTEM_UNIX:
            kind = _REFUSED_FILE_TYPES.get(stat.S_IFMT(external >> 16))
            if kind:
                raise ZipLayoutError(f"{shown(name)} is {kind}")
        if zip64.get("disk", disk) != 0:
            raise ZipLayoutError("it spans more than one disk")
        entries.append(
            _Entry(
                name=name,
                raw_name=raw_name,
                flags=flags,
                method=method,
                crc=crc,
                compressed_size=zip64.get("compressed_size", csize),
                size=zip64.get("size", usize),
                offset=zip64.get("offset", offset),
                zip64=bool(zip64),
            )
        )
        if len(entries) > count:
            break
    if len(entries) != count:
        raise ZipLayoutError("its central directory does not hold the entries its end record says")
    seen: set[bytes] = set()
    for entry in entries:
        if entry.raw_name in seen:
            # Installers disagree on which duplicate wins, so refuse the ambiguity.
            raise ZipLayoutError(f"duplicate member {shown(entry.name)}")
        seen.add(entry.raw_name)
    return entries


def _local_extent(stream: mmap.mmap, entry: _Entry, file_size: int) -> int:
    """Check the entry's local header against the directory; return where its data ends."""
    if entry.offset + _LOCAL.size > file_size:
        raise ZipLayoutError(f"the entry of {shown(entry.name)} points past the end of the file")
    fields = _LOCAL.unpack(_read_exactly(stream, entry.offset, _LOCAL.size))
    signature, _, flags, method, _, _, crc, csize, usize, name_length, extra_length = fields
    if signature != _LOCAL_SIGNATURE:
        raise ZipLayoutError(f"the entry of {shown(entry.name)} does not point at a local header")
    variable = _read_exactly(stream, entry.offset + _LOCAL.size, name_length + extra_length)
    if variable[:name_length] != entry.raw_name:
        raise ZipLayoutError(
            f"the local header of {shown(entry.name)} names another file "
            f"({shown(_decode_name(variable[:name_length], flags))})"
        )
    if (flags ^ entry.flags) & _COMPARED_FLAGS or method != entry.method:
        raise ZipLayoutError(
            f"the local header of {shown(entry.name)} disagrees with the central directory "
            "on flags or compression"
        )
    data_start = entry.offset + _LOCAL.size + name_length + extra_length
    data_end = data_start + entry.compressed_size
    if data_end > file_size:
        raise ZipLayoutError(f"the data of {shown(entry.name)} runs past the end of the file")
    if flags & _FLAG_DATA_DESCRIPTOR:
        wide = entry.zip64 or 0xFFFFFFFF in (csize, usize)
        layout = "<IQQ" if wide else "<III"
        length = struct.calcsize(layout)
        head = _read_exactly(stream, data_end, 4)
        if head == _DESCRIPTOR_SIGNATURE:
            data_end += 4
        descriptor = struct.unpack(layout, _read_exactly(stream, data_end, length))
        data_end += length
        crc, csize, usize = descriptor
    elif 0xFFFFFFFF in (csize, usize):
        local64 = _zip64_values(variable[name_length:], ["size", "compressed_size"])
        csize, usize = local64["compressed_size"], local64["size"]
    if (crc, csize, usize) != (entry.crc, entry.compressed_size, entry.size):
        raise ZipLayoutError(
            f"the local header of {shown(entry.name)} disagrees with the central directory "
            "on its CRC or sizes"
        )
    return data_end


def check_zip_layout(path: Path) -> list[str]:
    """Refuse a malformed or ambiguous ZIP (:class:`ZipLayoutError`); return its member names."""
    size = path.stat().st_size
    if size == 0:
        raise ZipLayoutError("it is not a valid zip archive")
    # Mapped, not read: a wheel of thousands of members means thousands of small reads at
    # scattered offsets, which cost a system call each through a file object.
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as stream:
        count, directory_start, directory_end = _central_directory_bounds(stream, size)
        entries = _central_entries(stream, count, directory_start, directory_end)
        expected_start = 0
        for entry in sorted(entries, key=lambda e: e.offset):
            if entry.offset < expected_start:
                raise ZipLayoutError(f"the entry of {shown(entry.name)} overlaps another entry")
            if entry.offset > expected_start:
                where = "before the first entry" if expected_start == 0 else "between entries"
                raise ZipLayoutError(f"it holds data {where}")
            expected_start = _local_extent(stream, entry, directory_start)
        if expected_start != directory_start:
            raise ZipLayoutError("it holds data between its last entry and its central directory")
    return [entry.name for entry in entries]
