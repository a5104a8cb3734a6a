"""File storage: the interface and its backends, chosen by WAREHOUSE_FILES_BACKEND."""

from __future__ import annotations

from warehouse.storage.interfaces import BlobNotFound, BlobStat, IFileStorage
from warehouse.storage.keys import content_key, content_type_for, metadata_key

__all__ = [
    "BlobNotFound",
    "BlobStat",
    "IFileStorage",
    "content_key",
    "content_type_for",
    "metadata_key",
    "storage_from_settings",
]


def storage_from_settings(settings) -> IFileStorage:
    if settings.files_backend == "s3":
        from warehouse.storage.s3 import S3FileStorage, s3_client_from_settings

        return S3FileStorage(
            s3_client_from_settings(settings), settings.s3_bucket, settings.s3_prefix
        )
    from warehouse.storage.local import LocalFileStorage

    return LocalFileStorage(settings.files_path)


def includeme(config) -> None:
    # One instance per process, shared by all requests (the S3 client is thread-safe and
    # opens no connection until first used, so building it before a fork is fine).
    # Tests may pre-seed "storage.instance".
    storage = config.registry.get("storage.instance")
    if storage is None:
        storage = storage_from_settings(config.registry.settings["warehouse"])
        config.registry["storage.instance"] = storage
    config.register_service(storage, IFileStorage)
    config.add_route("packages", "/packages/*key")
    config.scan("warehouse.storage.views")
