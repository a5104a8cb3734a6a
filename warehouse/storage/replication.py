"""Filling the cache store from the archive, and keeping it honest.

* An upload writes the archive before it answers. Its transaction also adds a pending
  :class:`FileCacheStatus` row, and after the commit a ``copy_to_cache`` task copies the blob
  (and its ``.metadata`` sidecar) to the cache, checking the bytes against the file's digests
  on the way and the stored object's size and MD5 afterwards.
* ``reconcile_cache`` (every minute) copies whatever is still pending: files whose task was
  lost, or uploaded while no worker ran, or that the audit found missing or wrong.
* ``audit_cache`` (every few hours) compares the cache's listing with the database in one
  merged pass over both, sorted by key: a missing blob or one whose size or MD5 differs puts
  its file back to pending; a blob no file names is deleted.
* Deleting a file deletes its blobs from both stores after the commit.

The upload's pending row, the copy task and the deletions are reactions to the commit, listed
with the others in :mod:`warehouse.effects`.

A worker copies a file while holding its status row (``FOR UPDATE SKIP LOCKED``): two workers
never copy the same file, and a concurrent delete of the file waits for the copy to finish, so
its after-commit cleanup cannot run before the copy lands.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import insert

from warehouse.db import utcnow
from warehouse.packaging.models import File
from warehouse.storage.interfaces import BlobNotFound, IFileStorage
from warehouse.storage.keys import METADATA_SUFFIX, content_type_for, is_foreign
from warehouse.storage.models import FileCacheStatus
from warehouse.upstreams.models import awaiting_fetch

if TYPE_CHECKING:  # the Celery app is not needed to copy a blob
    from warehouse.tasks import TaskContext

log = structlog.get_logger(__name__)

# A file that failed this often (its archive blob is missing or corrupt) is left to a human;
# the audit gives it a fresh start when it finds it still missing.
MAX_ATTEMPTS = 5
CHUNK = 1024 * 1024


class CopyError(Exception):
    """The archive's blob is missing or its bytes are not the file's: copying again won't help."""


@dataclasses.dataclass(frozen=True)
class Blob:
    key: str
    sha256: str
    blake2_256: str
    size: int | None = None  # None: not recorded (the .metadata sidecar)


def blobs_of(file: File) -> list[Blob]:
    """The blobs of :meth:`File.blob_keys` with the digests each must match."""
    digests = [
        (file.sha256_digest, file.blake2_256_digest, file.size),
        (file.metadata_sha256, file.metadata_blake2_256, None),
    ]
    return [Blob(key, *digests[i]) for i, key in enumerate(file.blob_keys())]


def copy_blob(archive, cache, blob: Blob) -> None:
    """Copy one blob, refusing bytes that don't match its digests; verify the stored copy."""
    with tempfile.NamedTemporaryFile(prefix="cache-copy-") as spool:
        sha256, blake2, md5, size = (
            hashlib.sha256(),
            hashlib.blake2b(digest_size=32),
            hashlib.md5(),
            0,
        )
        try:
            with archive.open(blob.key) as source:
                while chunk := source.read(CHUNK):
                    sha256.update(chunk)
                    blake2.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
        except BlobNotFound:
            raise CopyError(f"{blob.key} is not in the archive") from None
        if (sha256.hexdigest(), blake2.hexdigest()) != (blob.sha256, blob.blake2_256) or (
            blob.size is not None and size != blob.size
        ):
            raise CopyError(f"{blob.key} in the archive does not match its digests")
        spool.flush()
        cache.put(
            blob.key,
            Path(spool.name),
            content_type=content_type_for(blob.key),
            md5_hex=md5.hexdigest(),
        )
    stored_md5 = cache.md5(blob.key)
    if cache.stat(blob.key).size != size or stored_md5 not in (None, md5.hexdigest()):
        raise CopyError(f"{blob.key} in the cache does not match what was written")


def _claim(
    session: orm.Session, file_id: int | None, skip: frozenset[int] = frozenset()
) -> tuple[FileCacheStatus, File] | None:
    """Lock one pending row (this file's, or the next due); None if there is none to take."""
    query = (
        sa.select(FileCacheStatus, File)
        .join(File, File.id == FileCacheStatus.file_id)
        .where(FileCacheStatus.cached_at.is_(None))
        .with_for_update(of=FileCacheStatus, skip_locked=True)
        .limit(1)
    )
    if file_id is not None:
        query = query.where(FileCacheStatus.file_id == file_id)
    else:
        if skip:
            query = query.where(FileCacheStatus.file_id.not_in(skip))
        query = query.where(FileCacheStatus.attempts < MAX_ATTEMPTS).order_by(
            FileCacheStatus.attempts, FileCacheStatus.file_id
        )
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])


def copy_file(
    ctx: TaskContext, file_id: int | None = None, skip: frozenset[int] = frozenset()
) -> int | None:
    """Copy one pending file to the cache (``file_id``'s, or the next due not in ``skip``).

    Returns the id of the file handled, or None when there was nothing to take: already
    cached, deleted, or being copied by another worker. Errors that may pass (the cache is
    down) propagate, which rolls back and frees the row for a retry.
    """
    with ctx.session() as session:
        if file_id is not None:
            # A file uploaded before the cache existed, or by a session without the hooks.
            session.execute(
                insert(FileCacheStatus)
                .from_select(["file_id"], sa.select(File.id).where(File.id == file_id))
                .on_conflict_do_nothing()
            )
            session.commit()
        claimed = _claim(session, file_id, skip)
        if claimed is None:
            return None
        status, file = claimed
        status.attempts += 1
        try:
            for blob in blobs_of(file):
                copy_blob(ctx.archive, ctx.cache, blob)
        except CopyError as exc:
            status.last_error = str(exc)
            log.error(
                "cache copy failed", file=file.filename, error=str(exc), attempts=status.attempts
            )
            return file.id
        status.cached_at = utcnow()
        status.attempts = 0
        status.last_error = None
        log.info("copied to the cache", file=file.filename)
        return file.id


def reconcile(ctx: TaskContext, *, limit: int = 1000, seconds: float = 50.0) -> int:
    """Copy pending files until none is left, ``limit`` are done or ``seconds`` have passed."""
    if not ctx.has_separate_cache:
        return 0
    tried: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(tried) < limit and time.monotonic() < deadline:
        # A file that failed is not tried again in the same run.
        file_id = copy_file(ctx, skip=frozenset(tried))
        if file_id is None:
            break
        tried.add(file_id)
    return len(tried)


def pending_count(session: orm.Session) -> int:
    """Files known to be missing from the cache (for metrics and operators)."""
    return session.scalar(
        sa.select(sa.func.count())
        .select_from(FileCacheStatus)
        .where(FileCacheStatus.cached_at.is_(None))
    )


# The audit ---------------------------------------------------------------------------------


def _expected(connection) -> Iterator[tuple[str, int | None, str | None, int]]:
    """``(key, size, md5, file_id)`` of every blob the cache should hold, sorted by key bytes."""
    blobs = sa.union_all(
        sa.select(File.path.label("key"), File.size, File.md5_digest, File.id),
        sa.select(
            (File.path + METADATA_SUFFIX).label("key"),
            sa.cast(sa.null(), sa.BigInteger),
            sa.cast(sa.null(), sa.Text),
            File.id,
        ).where(File.metadata_sha256.isnot(None)),
    ).subquery()
    # Byte order, the order S3 lists keys in, so the two sorted streams can be merged.
    query = sa.select(blobs).order_by(sa.collate(blobs.c.key, "C"))
    yield from connection.execution_options(stream_results=True, yield_per=2000).execute(query)


def audit(ctx: TaskContext, *, batch: int = 500) -> dict[str, int]:
    """Compare the cache with the database; re-queue what is missing or wrong, drop orphans."""
    counts = {"missing": 0, "mismatched": 0, "orphans": 0}
    if not ctx.has_separate_cache:
        return counts
    with ctx.session() as session:
        # Files without a row (uploaded before the cache was configured): pending.
        session.execute(
            insert(FileCacheStatus)
            .from_select(
                ["file_id"],
                sa.select(File.id).where(
                    ~sa.exists().where(FileCacheStatus.file_id == File.id),
                    # A mirrored file not fetched yet has nothing to copy; its fetch marks it.
                    ~awaiting_fetch(File.id),
                ),
            )
            .on_conflict_do_nothing()
        )
    requeue: set[int] = set()
    orphans: list[str] = []
    # Sorted by key bytes, like _expected(); other domains' objects are no files' blobs.
    held = (blob for blob in ctx.cache.inventory() if not is_foreign(blob.key))
    have = next(held, None)
    with ctx.engine.connect() as connection:
        for key, size, md5, file_id in _expected(connection):
            while have is not None and have.key.encode() < key.encode():
                orphans.append(have.key)
                have = next(held, None)
            if have is None or have.key != key:
                counts["missing"] += 1
                requeue.add(file_id)
                continue
            if (size is not None and have.size != size) or (
                md5 is not None and have.md5 is not None and have.md5 != md5
            ):
                counts["mismatched"] += 1
                requeue.add(file_id)
            have = next(held, None)
    while have is not None:
        orphans.append(have.key)
        have = next(held, None)

    ids = sorted(requeue)
    for start in range(0, len(ids), batch):
        with ctx.session() as session:
            session.execute(
                sa.update(FileCacheStatus)
                .where(FileCacheStatus.file_id.in_(ids[start : start + batch]))
                .values(cached_at=None, attempts=0)
            )
    counts["orphans"] = _delete_orphans(ctx, orphans)
    log.info("cache audit", **counts)
    return counts


def _delete_orphans(ctx: TaskContext, keys: list[str]) -> int:
    deleted = 0
    with ctx.session() as session:
        for key in keys:
            path = key.removesuffix(METADATA_SUFFIX)
            # Listed after the database was read: a file uploaded and copied meanwhile is
            # no orphan.
            if session.scalar(sa.select(File.id).where(File.path == path)) is None:
                ctx.cache.delete(key)
                deleted += 1
    return deleted


# Reactions to a commit (called from warehouse.effects) ---------------------------------------


def mark_pending(session: orm.Session, file_ids: Iterable[int]) -> None:
    """In the upload's own transaction: if it commits, its files are pending, whatever
    happens to the copy tasks sent after the commit."""
    rows = [{"file_id": file_id} for file_id in sorted(set(file_ids))]
    if rows:
        session.execute(insert(FileCacheStatus).values(rows).on_conflict_do_nothing())


def delete_blobs(store: IFileStorage, keys: Iterable[str], *, what: str) -> None:
    """After the commit that deleted their files: nothing points at these blobs any more."""
    for key in sorted(set(keys)):
        try:
            store.delete(key)
        except Exception:  # noqa: BLE001 - the commit stands; an audit reaps the orphan later
            log.exception("could not remove a deleted file's blob", store=what, key=key)
