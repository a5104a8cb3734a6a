"""Behaviour every IFileStorage backend must share; each backend's tests subclass this."""

from __future__ import annotations

import pytest
from zope.interface.verify import verifyObject

from warehouse.storage.interfaces import BlobNotFound, IFileStorage

KEY = "ab/cd/ef0123/demo-1.0.tar.gz"
DATA = bytes(range(256)) * 40  # 10,240 bytes


class StorageContract:
    """Subclasses provide a ``storage`` fixture (an empty store) and a ``put`` helper."""

    @pytest.fixture
    def put(self, storage, tmp_path):
        def put(key: str, data: bytes, content_type: str = "application/octet-stream"):
            source = tmp_path / "upload"
            source.write_bytes(data)
            storage.put(key, source, content_type=content_type)

        return put

    def test_provides_the_interface(self, storage):
        assert verifyObject(IFileStorage, storage)

    def test_put_then_open(self, storage, put):
        put(KEY, DATA)
        with storage.open(KEY) as stream:
            assert stream.read() == DATA

    def test_put_replaces(self, storage, put):
        put(KEY, DATA)
        put(KEY, b"new")
        with storage.open(KEY) as stream:
            assert stream.read() == b"new"
        assert storage.size(KEY) == 3

    def test_empty_blob(self, storage, put):
        put(KEY, b"")
        assert storage.size(KEY) == 0
        with storage.open(KEY) as stream:
            assert stream.read() == b""

    @pytest.mark.parametrize(
        ("byte_range", "expected"),
        [((0, 0), DATA[:1]), ((10, 19), DATA[10:20]), ((10_000, 20_000), DATA[10_000:])],
    )
    def test_open_range(self, storage, put, byte_range, expected):
        put(KEY, DATA)
        with storage.open(KEY, byte_range) as stream:
            assert stream.read() == expected

    def test_range_read_in_pieces(self, storage, put):
        put(KEY, DATA)
        with storage.open(KEY, (100, 299)) as stream:
            pieces = [stream.read(64) for _ in range(5)]
        assert b"".join(pieces) == DATA[100:300]
        assert pieces[-1] == b""

    @pytest.mark.parametrize("byte_range", [(len(DATA), len(DATA) + 5), (5, 4), (-1, 3)])
    def test_bad_range(self, storage, put, byte_range):
        put(KEY, DATA)
        with pytest.raises(ValueError):
            storage.open(KEY, byte_range)

    def test_size_and_stat(self, storage, put):
        put(KEY, DATA)
        assert storage.size(KEY) == len(DATA)
        stat = storage.stat(KEY)
        assert stat.size == len(DATA)
        assert stat.mtime > 1_600_000_000

    def test_exists(self, storage, put):
        assert not storage.exists(KEY)
        put(KEY, DATA)
        assert storage.exists(KEY)

    def test_delete(self, storage, put):
        put(KEY, DATA)
        storage.delete(KEY)
        assert not storage.exists(KEY)
        storage.delete(KEY)  # missing: not an error

    def test_missing_blob(self, storage):
        with pytest.raises(BlobNotFound):
            storage.open(KEY)
        with pytest.raises(BlobNotFound):
            storage.open(KEY, (0, 1))
        with pytest.raises(BlobNotFound):
            storage.size(KEY)
        with pytest.raises(BlobNotFound):
            storage.stat(KEY)

    def test_keys(self, storage, put):
        assert storage.keys() == []
        names = ["ab/cd/1/a.whl", "ab/cd/1/a.whl.metadata", "ab/ce/2/b.tar.gz", "ff/00/3/c.zip"]
        for name in reversed(names):
            put(name, b"x")
        assert storage.keys() == names
        assert storage.keys("ab/") == names[:3]
        assert storage.keys("ab/cd/1/a.whl") == names[:2]
        assert storage.keys("ab/c") == names[:3]
        assert storage.keys("zz") == []

    def test_list_page_walks_in_byte_order_from_any_key(self, storage, put):
        assert storage.list_page() == []
        # Content-addressed shapes; SeaweedFS lists "ab/cd/..." before a sibling "ab/cd-x"
        # (directory order), so such siblings are left to the local backend's own test.
        names = [
            "ab/cd/1/a.whl",
            "ab/cd/1/a.whl.metadata",
            "ab/ce/2/b.tar.gz",
            "ff/00/3/c.zip",
            "quarantine/ab/x",
        ]
        for name in reversed(names):
            put(name, b"xy")
        walked, after = [], ""
        while page := storage.list_page(after, limit=2):
            assert len(page) <= 2
            walked.extend(page)
            after = page[-1].key
        assert [info.key for info in walked] == names
        assert {info.size for info in walked} == {2}
        assert all(info.mtime and info.mtime > 1.7e9 for info in walked)
        assert [i.key for i in storage.list_page("ab/cd/1/a.whl", limit=10)] == names[1:]
        assert [i.key for i in storage.list_page("ab/cd/", limit=10)] == names
        assert [i.key for i in storage.list_page("ab/cd/9", limit=10)] == names[2:]
        assert storage.list_page("zz") == []

    @pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a\\b", "a\x00b"])
    def test_rejects_unsafe_keys(self, storage, put, key):
        with pytest.raises(ValueError):
            put(key, b"x")
        for method in (storage.open, storage.size, storage.exists, storage.delete):
            with pytest.raises(ValueError):
                method(key)
