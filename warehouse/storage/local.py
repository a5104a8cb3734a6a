"""Blobs as plain files under one directory (development, tests, single-host installs)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from zope.interface import implementer

from warehouse.storage.interfaces import BlobInfo, BlobNotFound, BlobStat, IFileStorage
from warehouse.storage.keys import validate_key

# put() writes here first; keys() skips these half-written files.
_TEMP_PREFIX = ".tmp-"
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def check_range(byte_range: tuple[int, int], size: int) -> tuple[int, int]:
    """``byte_range`` with its end cut to the blob; ValueError if it can't be served."""
    start, end = byte_range
    if start < 0 or end < start:
        raise ValueError(f"invalid byte range {byte_range!r}")
    if start >= size:
        raise ValueError(f"byte range {byte_range!r} starts past the end ({size} bytes)")
    return start, min(end, size - 1)


class RangeReader(io.RawIOBase):
    """Reads at most ``length`` bytes of ``raw`` from where it stands; closes it on close."""

    def __init__(self, raw: BinaryIO, length: int):
        self._raw = raw
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._raw.readinto(view)
        self._left -= n or 0
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


@implementer(IFileStorage)
class LocalFileStorage:
    is_local = True

    def __init__(self, root: Path | str, *, fsync: bool = True):
        self.root = Path(root)
        self._root = os.fspath(root)
        # fsync makes a stored blob survive a power cut; tests turn it off for speed.
        self.fsync = fsync

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def local_path(self, key: str) -> Path | None:
        """Where the blob lives on disk, for sendfile-style serving; None if it is missing."""
        path = self._path(key)
        return path if path.is_file() else None

    def put(self, key: str, source: Path, *, content_type: str, md5_hex: str | None = None) -> None:
        # The content type is not stored: it follows from the filename when served. A local
        # copy cannot be corrupted on the way, so md5_hex is not checked here.
        path = self._path(key)
        fd, temp = self._temp_file_beside(path)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
            # mkstemp makes the file 0600; a web server reading the store may be another user.
            os.chmod(temp, 0o644)
            # Readers see either the old blob or the whole new one, never a partial write.
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        if self.fsync:
            self._fsync_dir(path.parent)

    def _temp_file_beside(self, path: Path) -> tuple[int, str]:
        # A concurrent delete() may prune the directory between mkdir and mkstemp: retry.
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def open(self, key: str, byte_range: tuple[int, int] | None = None) -> BinaryIO:
        try:
            # A plain string join: this is on the download hot path and pathlib is slow.
            raw = open(os.path.join(self._root, validate_key(key)), "rb")
        except _MISSING as exc:
            raise BlobNotFound(key) from exc
        if byte_range is None:
            return raw
        try:
            start, end = check_range(byte_range, os.fstat(raw.fileno()).st_size)
            raw.seek(start)
        except BaseException:
            raw.close()
            raise
        return RangeReader(raw, end - start + 1)  # type: ignore[return-value]

    def stat(self, key: str) -> BlobStat:
        try:
            st = os.stat(self._path(key))
        except _MISSING as exc:
            raise BlobNotFound(key) from exc
        if not stat.S_ISREG(st.st_mode):
            raise BlobNotFound(key)
        return BlobStat(st.st_size, st.st_mtime)

    def size(self, key: str) -> int:
        return self.stat(key).size

    def md5(self, key: str) -> str | None:
        # Reading the file is cheap next to copying it, and makes the check real.
        digest = hashlib.md5()
        with self.open(key) as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Prune directories left empty; rmdir refuses non-empty ones, so this is safe and cheap.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def keys(self, prefix: str = "") -> list[str]:
        if (
            prefix.startswith("/")
            or "\\" in prefix
            or "\x00" in prefix
            or ".." in prefix.split("/")
        ):
            raise ValueError(f"invalid key prefix: {prefix!r}")
        # Walk only the deepest directory the prefix names fully.
        start = self.root / prefix.rpartition("/")[0]
        found = []
        for directory, dirs, files in os.walk(start):
            dirs.sort()
            relative = Path(directory).relative_to(self.root).as_posix()
            for name in sorted(files):
                if name.startswith(_TEMP_PREFIX):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    def list_page(self, start_after: str = "", limit: int = 1000) -> list[BlobInfo]:
        page: list[BlobInfo] = []
        for key, st in self._walk_after(self.root, "", start_after):
            page.append(BlobInfo(key, st.st_size, None, st.st_mtime))
            if len(page) >= limit:
                break
        return page

    def _walk_after(self, directory: Path, relative: str, start_after: str):
        """``(key, stat)`` of every file under ``directory`` whose key sorts after
        ``start_after``, in byte order, without visiting subtrees that sort wholly before it.

        A directory's keys all start with ``name/``, so entries are sorted on that (not on
        the bare name: ``cd-x`` sorts before ``cd/...`` although ``cd`` < ``cd-x``)."""
        try:
            entries = list(os.scandir(directory))
        except _MISSING:
            return
        sortable = []
        for entry in entries:
            if entry.name.startswith(_TEMP_PREFIX):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            sortable.append((relative + entry.name + ("/" if is_dir else ""), is_dir, entry))
        sortable.sort(key=lambda item: item[0].encode())
        for name, is_dir, entry in sortable:
            if is_dir:
                # Every key below starts with ``name``: skip the subtree if all of them sort
                # at or before ``start_after``.
                if name.encode() < start_after.encode() and not start_after.startswith(name):
                    continue
                yield from self._walk_after(Path(entry.path), name, start_after)
            elif name.encode() > start_after.encode():
                try:
                    st = entry.stat(follow_symlinks=False)
                except _MISSING:
                    continue  # deleted while we walked
                if stat.S_ISREG(st.st_mode):
                    yield name, st

    def inventory(self, prefix: str = ""):
        # Sizes only: hashing every file of a large store on each audit would cost too much.
        for key in self.keys(prefix):
            with contextlib.suppress(BlobNotFound):
                yield BlobInfo(key, self.stat(key).size, None)
