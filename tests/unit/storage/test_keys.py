import hashlib

import pytest

from warehouse.storage.keys import (
    content_key,
    content_type_for,
    metadata_key,
    parse_content_key,
    validate_key,
)

DIGEST = hashlib.blake2b(b"hello", digest_size=32).hexdigest()


def test_content_key_uses_pypi_layout():
    key = content_key(DIGEST, "demo-1.0.tar.gz")
    assert key == f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST[4:]}/demo-1.0.tar.gz"
    assert parse_content_key(key) == (DIGEST, "demo-1.0.tar.gz")
    assert metadata_key(key) == key + ".metadata"
    assert parse_content_key(metadata_key(key)) == (DIGEST, "demo-1.0.tar.gz.metadata")


@pytest.mark.parametrize("digest", ["abc", "z" * 64, DIGEST + "00"])
def test_content_key_rejects_non_digests(digest):
    with pytest.raises(ValueError):
        content_key(digest, "demo-1.0.tar.gz")


@pytest.mark.parametrize("filename", ["..", "a/b", "a\\b", ""])
def test_content_key_rejects_bad_filenames(filename):
    with pytest.raises(ValueError):
        content_key(DIGEST, filename)


@pytest.mark.parametrize("key", ["x/y/demo.whl", "ab/demo", "ab/cd/short/demo.whl"])
def test_other_keys_are_not_content_addressed(key):
    assert parse_content_key(key) is None


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("demo-1.0-py3-none-any.whl", "application/zip"),
        ("demo-1.0.zip", "application/zip"),
        ("demo-1.0.tar.gz", "application/gzip"),
        ("demo-1.0-py3-none-any.whl.metadata", "text/plain; charset=utf-8"),
        ("demo-1.0.tar.bz2", "application/octet-stream"),
        ("README", "application/octet-stream"),
    ],
)
def test_content_type_for(filename, content_type):
    assert content_type_for(filename) == content_type


@pytest.mark.parametrize(
    "key", ["", "/abs/key", "a/../b", "..", "a/./b", "a//b", "a/b/", "a\\b", "a\x00b"]
)
def test_validate_key_rejects_unsafe_keys(key):
    with pytest.raises(ValueError):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "ab/cd/demo-1.0.tar.gz", "a/b..c", ".hidden/x"])
def test_validate_key_accepts_plain_paths(key):
    assert validate_key(key) == key
