"""What the rest of the index may ask of a file store."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, NamedTuple

from zope.interface import Attribute, Interface


class BlobNotFound(LookupError):
    pass


class BlobStat(NamedTuple):
    size: int
    mtime: float  # seconds since the epoch


class BlobInfo(NamedTuple):
    key: str
    size: int
    md5: str | None  # hex, when the store knows it without reading the blob
    mtime: float | None = None  # seconds since the epoch, when the listing tells it


class IFileStorage(Interface):
    """Blobs addressed by a relative key such as ``ab/cd/<blake2>/name-1.0.tar.gz``.

    Every method raises ValueError for a key that is not a plain relative path
    (see :func:`warehouse.storage.keys.validate_key`)."""

    is_local = Attribute(
        "True when open() returns a real file on this machine: reading never waits on a "
        "network, and the stream has a fileno() for sendfile."
    )

    def put(key: str, source: Path, *, content_type: str, md5_hex: str | None = None) -> None:
        """Store the file at ``source`` under ``key``, replacing any blob there.

        With ``md5_hex`` (the source's MD5) a store that can check it on arrival does so."""

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

    def md5(key: str) -> str | None:
        """The blob's MD5 (hex) if the store can tell cheaply, else None.

        Raises :class:`BlobNotFound`."""

    def inventory(prefix: str = ""):
        """:class:`BlobInfo` for every key that starts with ``prefix``, sorted by the keys'
        UTF-8 bytes (S3's listing order)."""

    def list_page(start_after: str = "", limit: int = 1000) -> list[BlobInfo]:
        """Up to ``limit`` :class:`BlobInfo` (with ``mtime``) whose keys sort after
        ``start_after``, in UTF-8 byte order.

        Stateless paging: the last key of one page is the ``start_after`` of the next, so a
        walk over a store of any size can stop anywhere and go on from a saved key."""
