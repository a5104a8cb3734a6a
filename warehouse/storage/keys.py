"""How blobs are named in storage, and what they are served as."""

from __future__ import annotations

import re

# ab/cd/<the other 60 hex digits>/<filename>: PyPI's layout. The hash is spread over two
# directory levels so no single directory grows huge on a plain file system.
_CONTENT_KEY = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{60})/([^/]+)")

METADATA_SUFFIX = ".metadata"
# What other domains keep in the stores beside the file blobs: the CDN's logs and the
# download datasets (warehouse.stats). Not package files: audits never judge them (an orphan
# there would be deleted or quarantined). Neither can be a content key (no hex "lo"/"at").
FOREIGN_PREFIXES = ("logs/", "datasets/")


def content_key(blake2_256_hex: str, filename: str) -> str:
    h = blake2_256_hex.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", h):
        raise ValueError(f"not a BLAKE2b-256 hex digest: {blake2_256_hex!r}")
    if "/" in filename:
        raise ValueError(f"invalid filename: {filename!r}")
    key = f"{h[:2]}/{h[2:4]}/{h[4:]}/{filename}"
    validate_key(key)
    return key


def metadata_key(key: str) -> str:
    """The PEP 658 sidecar (the distribution's METADATA file) stored next to ``key``."""
    return key + METADATA_SUFFIX


def parse_content_key(key: str) -> tuple[str, str] | None:
    """``(blake2_256_hex, filename)`` for a key in the content-addressed layout, else None."""
    match = _CONTENT_KEY.fullmatch(key)
    if match is None:
        return None
    return match[1] + match[2] + match[3], match[4]


def is_foreign(key: str) -> bool:
    """Whether ``key`` belongs to another domain (:data:`FOREIGN_PREFIXES`), not to a file."""
    return key.startswith(FOREIGN_PREFIXES)


def validate_key(key: str) -> str:
    """Raise ValueError unless ``key`` is a plain relative path that cannot escape the store."""
    if not key or "\\" in key or "\x00" in key or key.startswith("/"):
        raise ValueError(f"invalid storage key: {key!r}")
    for part in key.split("/"):
        # Empty and "." parts would give one blob several names; ".." would leave the root.
        if part in {"", ".", ".."}:
            raise ValueError(f"invalid storage key: {key!r}")
    return key


def content_type_for(filename: str) -> str:
    # Never a Content-Encoding: a .tar.gz is served as the gzip file it is, so that
    # clients and caches don't decompress it and break its hash.
    name = filename.lower()
    if name.endswith(METADATA_SUFFIX):
        return "text/plain; charset=utf-8"
    if name.endswith((".whl", ".zip", ".egg")):
        return "application/zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    return "application/octet-stream"
