"""S3FileStorage against a real SeaweedFS server (the ``seaweedfs`` fixture)."""

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from warehouse.settings import Settings
from warehouse.storage import storage_from_settings
from warehouse.storage.interfaces import BlobNotFound
from warehouse.storage.s3 import CACHE_CONTROL, S3FileStorage

from .contract import DATA, KEY, StorageContract

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(seaweedfs):
    return seaweedfs.make_bucket()


class TestS3FileStorage(StorageContract):
    @pytest.fixture
    def storage(self, seaweedfs, bucket):
        return S3FileStorage(seaweedfs.client(), bucket)

    def test_object_carries_content_type_and_cache_control(self, storage, put, bucket):
        put(KEY, DATA, content_type="application/gzip")
        head = storage.client.head_object(Bucket=bucket, Key=KEY)
        assert head["ContentType"] == "application/gzip"
        assert head["CacheControl"] == CACHE_CONTROL
        assert head["ContentLength"] == len(DATA)

    def test_keys_across_pages(self, seaweedfs, bucket, put):
        storage = S3FileStorage(seaweedfs.client(), bucket, page_size=2)
        calls = []
        storage.client.meta.events.register(
            "before-call.s3.ListObjectsV2", lambda **kwargs: calls.append(1)
        )
        names = [f"ab/cd/{i:03}/f-{i}.whl" for i in range(7)]
        for name in names:
            put(name, b"x")
        assert storage.keys() == names
        assert len(calls) == 4
        assert storage.keys("ab/cd/00") == names

    def test_prefix_keeps_stores_apart(self, seaweedfs, bucket, tmp_path):
        source = tmp_path / "upload"
        source.write_bytes(b"x")
        one = S3FileStorage(seaweedfs.client(), bucket, prefix="one")
        two = S3FileStorage(seaweedfs.client(), bucket, prefix="/two/")
        one.put(KEY, source, content_type="application/gzip")
        assert one.keys() == [KEY]
        assert two.keys() == [] and not two.exists(KEY)
        assert one.client.head_object(Bucket=bucket, Key="one/" + KEY)

    def test_missing_bucket_is_not_a_missing_blob(self, seaweedfs):
        storage = S3FileStorage(seaweedfs.client(), "no-such-bucket-here")
        with pytest.raises(ClientError):
            storage.open(KEY)

    def test_wrong_secret_is_rejected(self, seaweedfs, bucket, put, tmp_path):
        put(KEY, DATA)
        storage = S3FileStorage(seaweedfs.client(secret_key="wrong"), bucket)
        with pytest.raises(ClientError) as info:
            storage.open(KEY)
        assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        # A refused HEAD is an error, not "missing".
        with pytest.raises(ClientError):
            storage.exists(KEY)
        source = tmp_path / "other"
        source.write_bytes(b"x")
        with pytest.raises(S3UploadFailedError):
            storage.put("ab/cd/ef/other.whl", source, content_type="application/zip")


def test_storage_from_settings(seaweedfs, bucket, tmp_path):
    settings = Settings(
        files_backend="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=bucket,
        s3_prefix="files",
        s3_access_key_id=seaweedfs.access_key,
        s3_secret_access_key=seaweedfs.secret_key,
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3FileStorage)
    source = tmp_path / "upload"
    source.write_bytes(DATA)
    storage.put(KEY, source, content_type="application/gzip")
    with storage.open(KEY, (1, 3)) as stream:
        assert stream.read() == DATA[1:4]
    assert storage.keys() == [KEY]
    storage.delete(KEY)
    with pytest.raises(BlobNotFound):
        storage.size(KEY)
