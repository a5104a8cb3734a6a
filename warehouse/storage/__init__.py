"""File storage: the interface and its backends, and the two stores the index uses.

The *archive* (``WAREHOUSE_FILES_BACKEND``: S3 in production) gets every blob before the
upload answers; it is the ``IFileStorage`` service and ``registry["storage.instance"]``. The
*cache* (``WAREHOUSE_CACHE_BACKEND``: B2 in production) is filled from the archive by a task
after the commit (:mod:`warehouse.storage.replication`) and is where downloads are read first;
``registry["storage.cache"]``. Without a cache backend the archive is also the cache.
"""

from __future__ import annotations

from warehouse.storage.interfaces import BlobNotFound, BlobStat, IFileStorage
from warehouse.storage.keys import content_key, content_type_for, metadata_key

__all__ = [
    "BlobNotFound",
    "BlobStat",
    "IFileStorage",
    "cache_storage_from_settings",
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


def cache_storage_from_settings(settings, archive: IFileStorage) -> IFileStorage:
    if settings.cache_backend == "s3":
        from warehouse.storage.s3 import S3FileStorage, s3_client

        client = s3_client(
            settings.cache_s3_endpoint_url,
            settings.cache_s3_region,
            settings.cache_s3_access_key_id,
            settings.cache_s3_secret_access_key,
        )
        return S3FileStorage(client, settings.cache_s3_bucket, settings.cache_s3_prefix)
    if settings.cache_backend == "local":
        from warehouse.storage.local import LocalFileStorage

        return LocalFileStorage(settings.cache_path)
    return archive


def includeme(config) -> None:
    # One instance per process, shared by all requests (the S3 client is thread-safe and
    # opens no connection until first used, so building it before a fork is fine).
    # Tests may pre-seed "storage.instance".
    storage = config.registry.get("storage.instance")
    if storage is None:
        storage = storage_from_settings(config.registry.settings["warehouse"])
        config.registry["storage.instance"] = storage
    if config.registry.get("storage.cache") is None:
        config.registry["storage.cache"] = cache_storage_from_settings(
            config.registry.settings["warehouse"], storage
        )
    config.register_service(storage, IFileStorage)
    # The route only names the URLs: downloads are answered in front of the router
    # (warehouse.api.fastpath calls warehouse.storage.views.download).
    config.add_route("packages", "/packages/*key")
