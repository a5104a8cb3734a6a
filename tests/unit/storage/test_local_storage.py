import os
import shutil

import pytest

from warehouse.storage.local import LocalFileStorage

from .contract import DATA, KEY, StorageContract


class TestLocalFileStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path):
        return LocalFileStorage(tmp_path / "files", fsync=False)

    def test_layout_on_disk(self, storage, put):
        put(KEY, DATA)
        path = storage.root / KEY
        assert path.read_bytes() == DATA
        assert storage.local_path(KEY) == path
        # Readable by a web server running as another user.
        assert path.stat().st_mode & 0o777 == 0o644

    def test_local_path_of_missing_blob(self, storage, put):
        assert storage.local_path(KEY) is None
        put(KEY, DATA)
        # A directory is not a blob.
        assert storage.local_path("ab/cd") is None
        with pytest.raises(ValueError):
            storage.local_path("../x")

    def test_put_with_fsync(self, tmp_path):
        storage = LocalFileStorage(tmp_path / "files")  # fsync is on by default
        source = tmp_path / "upload"
        source.write_bytes(DATA)
        storage.put(KEY, source, content_type="application/gzip")
        assert storage.size(KEY) == len(DATA)

    def test_failed_put_leaves_nothing_behind(self, storage, put, monkeypatch):
        put(KEY, b"old")

        def broken_copy(src, dst, length=0):
            dst.write(b"half a fi")
            raise OSError("disk full")

        monkeypatch.setattr(shutil, "copyfileobj", broken_copy)
        with pytest.raises(OSError, match="disk full"):
            put(KEY, DATA)
        # The old blob is intact and no temporary file is left.
        assert (storage.root / KEY).read_bytes() == b"old"
        assert os.listdir((storage.root / KEY).parent) == ["demo-1.0.tar.gz"]

    def test_keys_skip_files_being_written(self, storage, put):
        put(KEY, DATA)
        (storage.root / "ab/cd/ef0123/.tmp-abc123").write_bytes(b"partial")
        assert storage.keys() == [KEY]

    def test_keys_of_empty_store(self, tmp_path):
        assert LocalFileStorage(tmp_path / "nothing-here").keys() == []

    @pytest.mark.parametrize("prefix", ["/etc", "../", "a/../b", "a\\b"])
    def test_keys_rejects_unsafe_prefixes(self, storage, prefix):
        with pytest.raises(ValueError):
            storage.keys(prefix)

    def test_delete_prunes_empty_directories(self, storage, put):
        put("ab/cd/1/a.whl", b"x")
        put("ab/ce/2/b.whl", b"y")
        storage.delete("ab/cd/1/a.whl")
        assert not (storage.root / "ab/cd").exists()
        assert (storage.root / "ab/ce/2/b.whl").exists()
        storage.delete("ab/ce/2/b.whl")
        assert storage.root.exists() and os.listdir(storage.root) == []

    def test_put_after_delete_pruned_the_directory(self, storage, put):
        put(KEY, DATA)
        storage.delete(KEY)
        put(KEY, b"again")
        assert storage.size(KEY) == 5

    def test_range_stream_closes_the_file(self, storage, put):
        put(KEY, DATA)
        stream = storage.open(KEY, (0, 9))
        stream.close()
        assert stream.closed


def test_list_page_is_in_byte_order_not_directory_order(tmp_path):
    storage = LocalFileStorage(tmp_path / "store", fsync=False)
    source = tmp_path / "blob"
    source.write_bytes(b"x")
    # "ab/cd-x" < "ab/cd/1" in bytes ("-" < "/") although the directory "cd" < "cd-x".
    names = ["ab/cd-x", "ab/cd/1/a.whl", "ab/cd/1/a.whl.metadata", "ab/cd0"]
    for name in names:
        storage.put(name, source, content_type="application/octet-stream")
    assert [info.key for info in storage.list_page(limit=10)] == names
    assert [info.key for info in storage.list_page("ab/cd-x", limit=10)] == names[1:]
    assert [info.key for info in storage.list_page("ab/cd/1/a.whl", limit=1)] == names[2:3]
