"""What the rest of the index may ask of a file store."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, NamedTuple

from zope.interface import Interface


class BlobNotFound(LookupError):
    pass


class BlobStat(NamedTuple):
    size: int
    mtime: float  # seconds since the epoch


class IFileStorage(Interface):
    """Blobs addressed by a relative key such as ``ab/cd/<blake2>/name-1.0.tar.gz``.

    Every method raises ValueError for a key that is not a plain relative path
    (see :func:`warehouse.storage.keys.validate_key`)."""

    def put(key: str, source: Path, *, content_type: str) -> None:
        """Store the file at ``source`` under ``key``, replacing any blob there."""

    def open(key: str, byte_range: tuple[int, int] | None = None) -> BinaryIO:
        """A readable stream of the blob, or of bytes ``[start, end]`` inclusive.

        ``end`` past the blob is cut to its last byte; a ``start`` past it raises ValueError.
        Raises :class:`BlobNotFound`."""

    def size(key: str) -> int:
        """The blob's size in bytes. Raises :class:`BlobNotFound`."""

    def stat(key: str) -> BlobStat:
        """Size and modification time in one call. Raises :class:`BlobNotFound`."""

    def exists(key: str) -> bool:
        """Whether a blob is stored under ``key``."""

    def delete(key: str) -> None:
        """Remove the blob; removing a missing blob is not an error."""

    def keys(prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix`` (for audits and reconciling)."""
