"""Blobs in an S3 bucket (AWS, or any S3-compatible server such as SeaweedFS)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from zope.interface import implementer

from warehouse.storage.interfaces import BlobInfo, BlobNotFound, BlobStat, IFileStorage
from warehouse.storage.keys import validate_key
from warehouse.storage.local import check_range

# Stored with each object so a CDN or browser fetching straight from the bucket caches well:
# a key's bytes never change (filenames are never reused).
CACHE_CONTROL = "public, max-age=31536000, immutable"

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
# S3's limit for one PUT; bigger objects go up in parts (and their ETag is not an MD5).
SINGLE_PUT_LIMIT = 5 * 1024**3


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES


def s3_client(
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    *,
    signature_version: str | None = None,
):
    """A boto3 S3 client; safe to share between threads."""
    options: dict = {
        "retries": {"max_attempts": 3, "mode": "standard"},
        "max_pool_connections": 50,
        # A store that accepts no connection is down: say so (503) within seconds, not the
        # minute botocore waits by default, three times over.
        "connect_timeout": 5,
    }
    if endpoint_url:
        # S3-compatible servers rarely resolve virtual-host bucket names, and some reject the
        # checksum trailers newer botocore adds to every request unless told to skip them.
        options.update(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    if signature_version:
        options["signature_version"] = signature_version
    # A session of our own: boto3's default session is not safe to share between threads.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(**options),
    )


def s3_client_from_settings(settings):
    """The client of the archive store (the ``s3_*`` settings)."""
    return s3_client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
    )


@implementer(IFileStorage)
class S3FileStorage:
    is_local = False

    def __init__(self, client, bucket: str, prefix: str = "", *, page_size: int = 1000):
        self.client = client
        self.bucket = bucket
        # "files" and "files/" both mean objects named "files/ab/cd/...".
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.page_size = page_size

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, source: Path, *, content_type: str, md5_hex: str | None = None) -> None:
        if md5_hex is not None and source.stat().st_size <= SINGLE_PUT_LIMIT:
            # One PUT with Content-MD5: the server refuses bytes that don't match, and the
            # object's ETag is then its MD5, which audits compare against the database.
            with source.open("rb") as body:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._name(key),
                    Body=body,
                    ContentMD5=base64.b64encode(bytes.fromhex(md5_hex)).decode(),
                    ContentType=content_type,
                    CacheControl=CACHE_CONTROL,
                )
            return
        # upload_file switches to a multipart upload for large files by itself.
        self.client.upload_file(
            str(source),
            self.bucket,
            self._name(key),
            ExtraArgs={"ContentType": content_type, "CacheControl": CACHE_CONTROL},
        )

    def _head(self, key: str) -> dict:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise BlobNotFound(key) from exc
            raise

    def open(self, key: str, byte_range: tuple[int, int] | None = None) -> BinaryIO:
        args = {"Bucket": self.bucket, "Key": self._name(key)}
        if byte_range is not None:
            # Checked here so a bad range fails the same way as in LocalFileStorage;
            # S3 clamps the end itself.
            start, end = byte_range
            if start < 0 or end < start:
                raise ValueError(f"invalid byte range {byte_range!r}")
            args["Range"] = f"bytes={start}-{end}"
        try:
            return self.client.get_object(**args)["Body"]
        except ClientError as exc:
            if _is_missing(exc):
                raise BlobNotFound(key) from exc
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                # Start past the end: ask for the size to give the same error as local storage.
                check_range(byte_range, self.size(key))  # type: ignore[arg-type]
            raise

    def stat(self, key: str) -> BlobStat:
        head = self._head(key)
        return BlobStat(head["ContentLength"], head["LastModified"].timestamp())

    def size(self, key: str) -> int:
        return self._head(key)["ContentLength"]

    def md5(self, key: str) -> str | None:
        return _md5_of_etag(self._head(key).get("ETag", ""))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the object was there.
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        skip = len(self.prefix)
        return sorted(obj["Key"][skip:] for page in pages for obj in page.get("Contents", ()))

    def inventory(self, prefix: str = "") -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        skip = len(self.prefix)
        for page in pages:
            for obj in page.get("Contents", ()):
                yield BlobInfo(obj["Key"][skip:], obj["Size"], _md5_of_etag(obj.get("ETag", "")))

    def list_page(self, start_after: str = "", limit: int = 1000) -> list[BlobInfo]:
        args = {"Bucket": self.bucket, "MaxKeys": limit}
        if self.prefix:
            args["Prefix"] = self.prefix
        if start_after or self.prefix:
            args["StartAfter"] = self.prefix + start_after
        answer = self.client.list_objects_v2(**args)
        skip = len(self.prefix)
        return [
            BlobInfo(
                obj["Key"][skip:],
                obj["Size"],
                _md5_of_etag(obj.get("ETag", "")),
                obj["LastModified"].timestamp(),
            )
            for obj in answer.get("Contents", ())
        ]


def _md5_of_etag(etag: str) -> str | None:
    # A multipart object's ETag is a hash of its parts' hashes ("<hex>-<parts>"), not an MD5.
    etag = etag.strip('"').lower()
    return etag if len(etag) == 32 and "-" not in etag else None
