"""S3FileStorage against a real SeaweedFS server (the ``seaweedfs`` fixture)."""

import secrets

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from warehouse.settings import Settings
from warehouse.storage import storage_from_settings
from warehouse.storage.interfaces import BlobNotFound
from warehouse.storage.s3 import CACHE_CONTROL, S3FileStorage

from .contract import DATA, KEY, StorageContract

# One xdist worker runs every SeaweedFS test (with --dist loadgroup), so only one server starts.
pytestmark = [pytest.mark.s3, pytest.mark.xdist_group("seaweedfs")]


@pytest.fixture(scope="module")
def bucket(seaweedfs):
    # One bucket for the module (SeaweedFS takes about a second to make one); each test
    # works under a prefix of its own instead.
    return seaweedfs.make_bucket()


@pytest.fixture
def prefix():
    return f"test-{secrets.token_hex(6)}"


class TestS3FileStorage(StorageContract):
    @pytest.fixture
    def storage(self, seaweedfs, bucket, prefix):
        return S3FileStorage(seaweedfs.client(), bucket, prefix)

    def test_object_carries_content_type_and_cache_control(self, storage, put, bucket):
        put(KEY, DATA, content_type="application/gzip")
        head = storage.client.head_object(Bucket=bucket, Key=f"{storage.prefix}{KEY}")
        assert head["ContentType"] == "application/gzip"
        assert head["CacheControl"] == CACHE_CONTROL
        assert head["ContentLength"] == len(DATA)

    def test_keys_across_pages(self, seaweedfs, bucket, prefix, put):
        # A client of its own, so the event hook doesn't reach other tests.
        client = seaweedfs.client(shared=False)
        storage = S3FileStorage(client, bucket, prefix, page_size=2)
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

    def test_prefix_keeps_stores_apart(self, seaweedfs, bucket, prefix, tmp_path):
        source = tmp_path / "upload"
        source.write_bytes(b"x")
        one = S3FileStorage(seaweedfs.client(), bucket, prefix=prefix + "/one")
        two = S3FileStorage(seaweedfs.client(), bucket, prefix=f"/{prefix}/two/")
        one.put(KEY, source, content_type="application/gzip")
        assert one.keys() == [KEY]
        assert two.keys() == [] and not two.exists(KEY)
        assert one.client.head_object(Bucket=bucket, Key=f"{prefix}/one/{KEY}")

    def test_missing_bucket_is_not_a_missing_blob(self, seaweedfs):
        storage = S3FileStorage(seaweedfs.client(), "no-such-bucket-here")
        with pytest.raises(ClientError):
            storage.open(KEY)

    def test_wrong_secret_is_rejected(self, seaweedfs, bucket, prefix, put, tmp_path):
        put(KEY, DATA)
        storage = S3FileStorage(seaweedfs.client(secret_key="wrong"), bucket, prefix)
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


def test_storage_from_settings(seaweedfs, bucket, prefix, tmp_path):
    settings = Settings(
        files_backend="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=bucket,
        s3_prefix=prefix,
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
