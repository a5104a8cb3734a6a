"""Verify a store against the file rows: a paged merge of two sorted streams, checkpointed.

A run covers one store (the archive or the cache) and is split into key ranges by the
content address's leading hex digits (``ab/cd/<60 hex>/<filename>``): with two digits, 256
ranges, the first from the empty key and the last to the end, so that keys outside the
layout are seen too. A range is walked page by page: one page of the store's listing
(:meth:`IFileStorage.list_page`, from the last key settled) is merged with the file rows
read through a server-side cursor in the same order (bytes), and each key lands in one
class:

* ok;
* ``missing``: a row names the key and the store has no blob;
* ``orphan``: a blob no row names;
* ``size_mismatch``: the blob's size is not the row's;
* ``digest_mismatch``: the listing's MD5 (an S3 ETag), or with ``deep`` the SHA-256 and
  BLAKE2b-256 of the streamed bytes, are not the row's;
* ``unreadable``: reading the blob failed with anything but "not found".

Problems go to ``storage_verify_problems`` (one row per key and run); the position and the
counters of the range go to ``storage_verify_ranges`` after each page, in one transaction.
A run killed at any moment goes on from its last page: the page is done again, and a key
already recorded keeps its record (its repair may have happened), so the totals are those
of an uninterrupted run. Memory holds one page of each side, whatever the store's size.

Writes while a run goes on. Rows uploaded at or after the run's start are not read; blobs
written less than ``orphan_min_age`` before it are not judged; a key is re-checked (the row
still there? the blob still missing? still unowned?) before it is called a problem or acted
on, and a file being repaired is held ``FOR SHARE`` so that it cannot be deleted under the
copy (a delete waits, then removes the copy with the rest).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import hashlib
import heapq
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import insert

from warehouse.db import utcnow
from warehouse.packaging.models import File, blob_keys_of
from warehouse.storage.interfaces import BlobInfo, BlobNotFound
from warehouse.storage.keys import FOREIGN_PREFIXES, METADATA_SUFFIX, content_type_for
from warehouse.storage.replication import Blob, CopyError, copy_blob
from warehouse.storage.verify import metrics
from warehouse.storage.verify.models import (
    UnavailableFile,
    VerifyProblem,
    VerifyRange,
    VerifyRun,
)
from warehouse.upstreams.models import awaiting_fetch

log = structlog.get_logger(__name__)

PROBLEMS = ("missing", "orphan", "size_mismatch", "digest_mismatch", "unreadable")
# Orphans are moved here, never deleted at once; a later run deletes them after a grace
# period. Not in the content layout, so never mistaken for a file's blob.
QUARANTINE_PREFIX = "quarantine/"
_NOT_FILES = (QUARANTINE_PREFIX, *FOREIGN_PREFIXES)
CHUNK = 1024 * 1024
# Blobs a deep pass reads at once within a range (each holds one chunk at a time).
DEEP_READERS = 8
_HEX = "0123456789abcdef"


class VerifyError(Exception):
    """A run cannot be started or resumed as asked (the message says why)."""


class LeaseLost(Exception):
    """Another worker took the range over (this one was presumed dead): stop quietly."""


# Ranges -------------------------------------------------------------------------------------


def key_prefix(hex_digits: str) -> str:
    """Where keys whose content address starts with ``hex_digits`` begin: ``abc`` -> ``ab/c``."""
    out = hex_digits[:2]
    if len(hex_digits) > 2:
        out += "/" + hex_digits[2:4]
    if len(hex_digits) > 4:
        out += "/" + hex_digits[4:]
    return out


def split_ranges(digits: int) -> list[tuple[str, str | None]]:
    """``(lo, hi)`` key bounds covering every key, cut at each ``digits``-long hex prefix."""
    if not 0 <= digits <= 4:
        raise VerifyError("ranges are cut on 0 to 4 hex digits")
    if digits == 0:
        return [("", None)]
    prefixes = [""]
    for _ in range(digits):
        prefixes = [p + h for p in prefixes for h in _HEX]
    bounds = [key_prefix(p) for p in prefixes[1:]]
    return list(zip(["", *bounds], [*bounds, None], strict=True))


def _listing_start(lo: str) -> str:
    # A key just before ``lo`` for the listing's StartAfter: keys of the layout have a hex
    # digit or "/" after any boundary's stem, and all of those sort before "~". Anything
    # else the listing gives below ``lo`` is dropped by the merge.
    if not lo:
        return ""
    return lo[:-1] + chr(ord(lo[-1]) - 1) + "~"


# Starting, claiming, checkpointing ------------------------------------------------------------


def start_run(
    session: orm.Session,
    store: str,
    *,
    deep: bool = False,
    repair: bool = False,
    digits: int = 1,
    rolling: bool = False,
    delete_orphans_after: int | None = None,
) -> VerifyRun:
    if store not in ("archive", "cache"):
        raise VerifyError(f"no store {store!r}: use 'archive' or 'cache'")
    if delete_orphans_after is not None and not repair:
        raise VerifyError("deleting quarantined orphans is a repair: add --repair")
    expected = session.scalar(
        sa.select(sa.func.count() + sa.func.count(File.metadata_sha256)).select_from(File)
    )
    run = VerifyRun(
        store=store,
        deep=deep,
        repair=repair,
        rolling=rolling,
        started_at=session.scalar(sa.select(sa.func.now())),
        expected_keys=expected or 0,
        delete_orphans_after_seconds=delete_orphans_after,
    )
    run.ranges = [VerifyRange(lo=lo, hi=hi) for lo, hi in split_ranges(digits)]
    session.add(run)
    session.flush()
    log.info("verify run started", run=run.id, store=store, deep=deep, repair=repair)
    return run


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str | None) -> bool:
    # A process of this host that is gone (kill -9, reboot) holds its lease no longer.
    if not owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_range(
    session: orm.Session,
    run_id: int,
    owner: str,
    lease_seconds: int,
    range_id: int | None = None,
) -> int | None:
    """Lease the next unfinished range nobody holds (or ``range_id``); None if there is none."""
    query = (
        sa.select(VerifyRange)
        .where(VerifyRange.run_id == run_id, VerifyRange.finished_at.is_(None))
        .order_by(VerifyRange.lo)
        .with_for_update(skip_locked=True)
    )
    if range_id is not None:
        query = query.where(VerifyRange.id == range_id)
    now = session.scalar(sa.select(sa.func.now()))
    for candidate in session.scalars(query):
        free = (
            candidate.lease_until is None
            or candidate.lease_until < now
            or candidate.lease_owner == owner
            or _owner_is_dead(candidate.lease_owner)
        )
        if free:
            candidate.lease_owner = owner
            candidate.lease_until = now + datetime.timedelta(seconds=lease_seconds)
            session.flush()
            return candidate.id
    return None


@dataclasses.dataclass
class PageResult:
    keys: int = 0
    skipped: int = 0


def _checkpoint(
    engine: sa.Engine,
    range_id: int,
    owner: str,
    lease_seconds: int,
    position: str | None,
    page: PageResult,
    finished: bool,
) -> None:
    values = {
        "position": position,
        "keys_done": VerifyRange.keys_done + page.keys,
        "skipped": VerifyRange.skipped + page.skipped,
        "updated_at": sa.func.now(),
        "lease_until": sa.func.now() + datetime.timedelta(seconds=lease_seconds),
    }
    if finished:
        values.update(finished_at=sa.func.now(), lease_owner=None, lease_until=None)
    with engine.begin() as connection:
        done = connection.execute(
            sa.update(VerifyRange)
            .where(VerifyRange.id == range_id, VerifyRange.lease_owner == owner)
            .values(**values)
        ).rowcount
    if not done:
        raise LeaseLost(range_id)


# What the rows expect ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, order=True)
class Expected:
    key: str
    file_id: int = dataclasses.field(compare=False)
    size: int | None = dataclasses.field(compare=False)
    md5: str | None = dataclasses.field(compare=False)
    sha256: str | None = dataclasses.field(compare=False)
    blake2_256: str | None = dataclasses.field(compare=False)

    @property
    def blob(self) -> Blob:
        return Blob(self.key, self.sha256, self.blake2_256, self.size)


def _expected_of(row) -> list[Expected]:
    """What each of the row's blobs (:func:`blob_keys_of`: the file, then its sidecar)
    should be."""
    keys = blob_keys_of(row.path, row.metadata_sha256)
    blobs = [
        Expected(
            keys[0], row.id, row.size, row.md5_digest, row.sha256_digest, row.blake2_256_digest
        )
    ]
    if len(keys) > 1:
        blobs.append(
            Expected(keys[1], row.id, None, None, row.metadata_sha256, row.metadata_blake2_256)
        )
    return blobs


_FILE_COLUMNS = (
    File.id,
    File.path,
    File.size,
    File.md5_digest,
    File.sha256_digest,
    File.blake2_256_digest,
    File.metadata_sha256,
    File.metadata_blake2_256,
)


def expected_blobs(
    connection: sa.Connection,
    lo: str,
    hi: str | None,
    after: str | None,
    started_at: datetime.datetime,
    batch: int = 1000,
) -> Iterator[Expected]:
    """The blobs rows uploaded before ``started_at`` name in ``[lo, hi)`` after ``after``,
    in byte order, through a server-side cursor (memory: one batch)."""
    floor = lo
    if after:
        # A key after ``after`` may be a sidecar of a path that sorts before it, but then
        # that path is a prefix of ``after`` and so shares its directory.
        floor = max(lo, after.rpartition("/")[0] + "/" if "/" in after else after)
    query = sa.select(*_FILE_COLUMNS).where(
        File.path >= floor, File.upload_time < started_at, ~awaiting_fetch(File.id)
    )
    if hi is not None:
        query = query.where(File.path < hi)
    query = query.order_by(sa.collate(File.path, "C"))
    rows = connection.execution_options(stream_results=True, yield_per=batch).execute(query)
    # A path's sidecar (path + ".metadata") may sort after another row's path: hold blobs
    # in a small heap until the rows have gone past them.
    held: list[Expected] = []
    for row in rows:
        while held and held[0].key < row.path:
            yield from _within(heapq.heappop(held), lo, hi, after)
        for blob in _expected_of(row):
            heapq.heappush(held, blob)
    while held:
        yield from _within(heapq.heappop(held), lo, hi, after)


def _within(blob: Expected, lo: str, hi: str | None, after: str | None) -> Iterator[Expected]:
    if blob.key >= lo and (hi is None or blob.key < hi) and (after is None or blob.key > after):
        yield blob


# The verifier -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Stores:
    """The store a run verifies and the other one, which repairs it (None: no other)."""

    verified: object
    other: object | None


def stores_for(ctx, store: str) -> Stores:
    other = None
    if ctx.has_separate_cache:
        other = ctx.cache if store == "archive" else ctx.archive
    return Stores(ctx.archive if store == "archive" else ctx.cache, other)


class RangeVerifier:
    """Walks one leased range of a run to its end, a page at a time."""

    def __init__(
        self,
        ctx,
        run: VerifyRun,
        range_id: int,
        owner: str,
        *,
        page_size: int = 1000,
        orphan_min_age: float = 3600.0,
        lease_seconds: int = 120,
        on_page: Callable[[int], None] | None = None,
    ):
        self.ctx = ctx
        self.engine: sa.Engine = ctx.engine
        self.run_id = run.id
        self.store_name = run.store
        self.deep = run.deep
        self.repair = run.repair
        self.started_at = run.started_at
        # Blobs written after this may belong to an upload whose row is not committed yet.
        self.orphan_before = run.started_at.timestamp() - orphan_min_age
        self.stores = stores_for(ctx, run.store)
        self.range_id = range_id
        self.owner = owner
        self.page_size = page_size
        self.lease_seconds = lease_seconds
        self.on_page = on_page
        self._page_digests: dict[str, tuple[str, str] | Exception] = {}

    @property
    def store(self):
        return self.stores.verified

    def run(self) -> None:
        with self.engine.connect() as connection:
            rng = connection.execute(
                sa.select(VerifyRange.lo, VerifyRange.hi, VerifyRange.position).where(
                    VerifyRange.id == self.range_id
                )
            ).one()
        lo, hi, position = rng
        self.lo, self.hi = lo, hi
        # Problems past the position exist only if a pass over this range was cut short;
        # pages recorded in this pass are behind it. Without any, no page need look them up.
        self.look_up_recorded = bool(self._recorded(position, None))
        with (
            self.engine.connect() as cursor_connection,
            concurrent.futures.ThreadPoolExecutor(DEEP_READERS if self.deep else 1) as readers,
            concurrent.futures.ThreadPoolExecutor(1) as lister,
        ):
            expected = _Peekable(
                expected_blobs(cursor_connection, lo, hi, position, self.started_at)
            )
            start_after = position if position is not None else _listing_start(lo)
            settled = position  # the greatest key settled (pages go up in key order)
            # The store's listing is the slow side: the next page is asked for as soon as
            # this one is in, and lists while this one is merged and checkpointed.
            next_listing = lister.submit(self.store.list_page, start_after, self.page_size)
            while True:
                listing = next_listing.result()
                end_of_range = len(listing) < self.page_size
                if not end_of_range and (hi is None or listing[-1].key < hi):
                    # (A page that reaches the range's end is the last: no next one.)
                    next_listing = lister.submit(
                        self.store.list_page, listing[-1].key, self.page_size
                    )
                page: list[BlobInfo] = []
                for info in listing:
                    if hi is not None and info.key >= hi:
                        end_of_range = True
                        break
                    # Quarantined orphans and other domains' objects (CDN logs, datasets)
                    # are outside the layout: not keys of the run.
                    if info.key >= lo and not info.key.startswith(_NOT_FILES):
                        page.append(info)
                if listing and not end_of_range:
                    start_after = listing[-1].key
                page_end = None if end_of_range else start_after
                if self.deep:
                    self._read_page_digests(page, readers)
                result = self._merge_page(expected, page, settled, page_end)
                if page_end is not None:
                    settled = page_end if settled is None else max(settled, page_end)
                _checkpoint(
                    self.engine,
                    self.range_id,
                    self.owner,
                    self.lease_seconds,
                    settled,
                    result,
                    end_of_range,
                )
                metrics.KEYS.labels(self.store_name).inc(result.keys)
                if self.on_page is not None:
                    self.on_page(result.keys)
                if end_of_range:
                    return

    # One page ----------------------------------------------------------------------------------

    def _merge_page(
        self,
        expected: _Peekable,
        page: list[BlobInfo],
        settled: str | None,
        page_end: str | None,
    ) -> PageResult:
        """Settle every key in ``(settled, page_end]`` (``page_end`` None: to the range's end)."""
        result = PageResult()
        recorded = self._recorded(settled, page_end) if self.look_up_recorded else {}
        seen: set[str] = set()
        last = settled

        def settle(key: str, decide: Callable[[], str | None]) -> None:
            seen.add(key)
            result.keys += 1
            if key in recorded and recorded[key] is not None:
                return  # settled before a kill; its repair is done
            outcome = decide() if key not in recorded else self._redo(key)
            if outcome == "skipped":
                result.skipped += 1

        for info in page:
            if last is not None and info.key <= last:
                # Out of byte order (SeaweedFS lists a directory's children before a sibling
                # whose name sorts between): settled already if a row named it.
                if self._owner_of(info.key) is None and info.key not in seen:
                    settle(info.key, lambda info=info: self._unowned(info))
                continue
            while (blob := expected.peek()) is not None and blob.key < info.key:
                expected.next()
                settle(blob.key, lambda blob=blob: self._not_listed(blob))
            blob = expected.peek()
            if blob is not None and blob.key == info.key:
                expected.next()
                settle(info.key, lambda blob=blob, info=info: self._present(blob, info))
            else:
                settle(info.key, lambda info=info: self._unowned(info))
            last = info.key
        while (blob := expected.peek()) is not None and (page_end is None or blob.key <= page_end):
            expected.next()
            settle(blob.key, lambda blob=blob: self._not_listed(blob))
        # Keys recorded before a kill that are no longer listed or named (an orphan moved to
        # quarantine, a deleted row): still part of this page's count.
        result.keys += sum(1 for key in recorded if key not in seen)
        return result

    def _recorded(self, after: str | None, upto: str | None) -> dict[str, str | None]:
        query = sa.select(VerifyProblem.key, VerifyProblem.action).where(
            VerifyProblem.run_id == self.run_id
        )
        lo, hi = self.lo, self.hi
        with self.engine.connect() as connection:
            query = query.where(VerifyProblem.key >= lo)
            if hi is not None:
                query = query.where(VerifyProblem.key < hi)
            if after is not None:
                query = query.where(VerifyProblem.key > after)
            if upto is not None:
                query = query.where(VerifyProblem.key <= upto)
            rows = connection.execute(query).all()
        # Byte order in Python, whatever the database's collation did with the bounds.
        return {
            key: (action or None) if self.repair else "reported"
            for key, action in rows
            if key >= lo
            and (hi is None or key < hi)
            and (after is None or key > after)
            and (upto is None or key <= upto)
        }

    # Classes ------------------------------------------------------------------------------------

    def _owner_of(self, key: str) -> Expected | None:
        """The blob a row (of any age) names under ``key``, read now."""
        path = key.removesuffix(METADATA_SUFFIX)
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(*_FILE_COLUMNS).where(File.path.in_({key, path}))
            ).all()
        for row in rows:
            for blob in _expected_of(row):
                if blob.key == key:
                    return blob
        return None

    def _file_exists(self, file_id: int) -> bool:
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(File.id).where(File.id == file_id)) is not None

    def _not_listed(self, blob: Expected) -> str | None:
        # Re-check: the row may be gone, or the blob may have arrived since the listing.
        if not self._file_exists(blob.file_id):
            return "skipped"
        try:
            stat = self.store.stat(blob.key)
        except BlobNotFound:
            return self._problem("missing", blob.key, blob, "no blob under this key")
        except Exception as exc:  # noqa: BLE001 - listed nowhere and cannot be asked about
            return self._problem("unreadable", blob.key, blob, f"{type(exc).__name__}: {exc}")
        md5 = None
        if blob.md5 is not None and not self.deep:
            try:
                md5 = self.store.md5(blob.key)
            except BlobNotFound:
                md5 = None
        return self._present(blob, BlobInfo(blob.key, stat.size, md5, stat.mtime))

    def _present(self, blob: Expected, info: BlobInfo) -> str | None:
        if blob.size is not None and info.size != blob.size:
            return self._problem(
                "size_mismatch",
                blob.key,
                blob,
                f"{info.size} bytes stored, {blob.size} recorded",
            )
        if blob.md5 is not None and info.md5 is not None and info.md5 != blob.md5:
            return self._problem(
                "digest_mismatch", blob.key, blob, f"stored MD5 {info.md5}, recorded {blob.md5}"
            )
        if self.deep:
            return self._hash(blob)
        return None

    def _hash(self, blob: Expected) -> str | None:
        outcome = self._page_digests.pop(blob.key, None)
        if outcome is None:
            outcome = self._read_digests(blob.key)
        if isinstance(outcome, BlobNotFound):
            if not self._file_exists(blob.file_id):
                return "skipped"
            return self._problem("missing", blob.key, blob, "gone while it was read")
        if isinstance(outcome, Exception):
            return self._problem(
                "unreadable", blob.key, blob, f"{type(outcome).__name__}: {outcome}"
            )
        sha256, blake2 = outcome
        if (blob.sha256 and sha256 != blob.sha256) or (
            blob.blake2_256 and blake2 != blob.blake2_256
        ):
            return self._problem(
                "digest_mismatch",
                blob.key,
                blob,
                f"SHA-256 of the stored bytes {sha256}, recorded {blob.sha256}",
            )
        return None

    def _read_digests(self, key: str) -> tuple[str, str] | Exception:
        """The stored bytes' SHA-256 and BLAKE2b-256, or what reading them raised."""
        sha256, blake2 = hashlib.sha256(), hashlib.blake2b(digest_size=32)
        try:
            with self.store.open(key) as stream:
                while chunk := stream.read(CHUNK):
                    sha256.update(chunk)
                    blake2.update(chunk)
        except Exception as exc:  # noqa: BLE001 - any failure to read is a class of its own
            return exc
        return sha256.hexdigest(), blake2.hexdigest()

    def _read_page_digests(self, page: list[BlobInfo], readers) -> None:
        # A deep pass waits on the store for each blob more than it hashes: read a page's
        # blobs several at a time. Only digests are kept, so memory stays one chunk a reader.
        keys = [info.key for info in page]
        self._page_digests = dict(zip(keys, readers.map(self._read_digests, keys), strict=True))

    def _unowned(self, info: BlobInfo) -> str | None:
        if info.key.startswith(QUARANTINE_PREFIX):
            return "skipped"
        if info.mtime is not None and info.mtime >= self.orphan_before:
            return "skipped"  # may be an upload whose row is not committed yet
        owner = self._owner_of(info.key)
        if owner is not None:
            # Its row came after the run began (or after this range's cursor opened).
            return "skipped"
        return self._problem("orphan", info.key, None, f"{info.size} bytes, no file names it")

    def _redo(self, key: str) -> str | None:
        """A problem recorded before a kill whose repair did not finish: finish it."""
        with self.engine.connect() as connection:
            kind = connection.scalar(
                sa.select(VerifyProblem.kind).where(
                    VerifyProblem.run_id == self.run_id, VerifyProblem.key == key
                )
            )
        blob = self._owner_of(key)
        if kind == "orphan":
            if blob is None:
                self._act(key, None, kind)
        elif blob is not None:
            self._act(key, blob, kind)
        return None

    # Recording and repairing ----------------------------------------------------------------------

    def _problem(self, kind: str, key: str, blob: Expected | None, detail: str) -> str | None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(VerifyProblem)
                .values(
                    run_id=self.run_id,
                    key=key,
                    kind=kind,
                    file_id=blob.file_id if blob else None,
                    detail=detail,
                    found_at=utcnow(),
                )
                .on_conflict_do_nothing()
            )
        metrics.PROBLEMS_FOUND.labels(self.store_name, kind).inc()
        log.warning(
            "verify found a problem", store=self.store_name, key=key, kind=kind, detail=detail
        )
        if self.repair:
            self._act(key, blob, kind)
        return kind

    def _record_action(self, key: str, action: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(VerifyProblem)
                .where(VerifyProblem.run_id == self.run_id, VerifyProblem.key == key)
                .values(action=action)
            )

    def _act(self, key: str, blob: Expected | None, kind: str) -> None:
        try:
            if kind == "orphan":
                action = quarantine(self.store, key, self.engine, self.orphan_before)
            else:
                action = self._restore(blob)
        except Exception as exc:  # noqa: BLE001 - one failed repair must not stop the pass
            log.exception("verify could not repair", key=key, kind=kind)
            action = f"failed: {type(exc).__name__}: {exc}"
        self._record_action(key, action)

    def _restore(self, blob: Expected) -> str:
        source = self.stores.other
        session = self.ctx.session_factory()
        try:
            # Held FOR SHARE while copying: a delete of the file waits, then removes the copy.
            file_id = session.scalar(
                sa.select(File.id).where(File.id == blob.file_id).with_for_update(read=True)
            )
            if file_id is None:
                return "none: the file was deleted meanwhile"
            origin = "archive" if self.store_name == "cache" else "cache"
            if source is not None:
                try:
                    copy_blob(source, self.store, blob.blob)
                    log.info("verify repaired a blob", key=blob.key, origin=origin)
                    return f"copied from the {origin}"
                except CopyError:
                    reason = f"the {origin} has no copy that matches the file's digests"
            else:
                reason = "no other store holds a copy"
            session.execute(
                insert(UnavailableFile)
                .values(file_id=file_id, reason=f"{blob.key}: {reason}", since=utcnow())
                .on_conflict_do_nothing()
            )
            session.commit()
            metrics.UNAVAILABLE.labels(self.store_name).inc()
            log.error(
                "file unavailable: no good copy in any store",
                key=blob.key,
                file_id=file_id,
                reason=reason,
            )
            return f"file marked unavailable ({reason})"
        finally:
            session.rollback()
            session.close()


class _Peekable:
    def __init__(self, iterator: Iterator[Expected]):
        self._iterator = iterator
        self._head: Expected | None = None
        self._done = False

    def peek(self) -> Expected | None:
        if self._head is None and not self._done:
            self._head = next(self._iterator, None)
            self._done = self._head is None
        return self._head

    def next(self) -> Expected | None:
        head = self.peek()
        self._head = None
        return head


# Quarantine ---------------------------------------------------------------------------------------


def _still_unowned(engine: sa.Engine, key: str) -> bool:
    path = key.removesuffix(METADATA_SUFFIX)
    with engine.connect() as connection:
        return (
            connection.scalar(sa.select(File.id).where(File.path.in_({key, path})).limit(1)) is None
        )


def quarantine(store, key: str, engine: sa.Engine, written_before: float) -> str:
    """Move an orphan under :data:`QUARANTINE_PREFIX` (re-checked first); says what it did."""
    try:
        stat = store.stat(key)
    except BlobNotFound:
        return "none: gone meanwhile"
    if stat.mtime >= written_before or not _still_unowned(engine, key):
        return "none: owned or rewritten meanwhile"
    with tempfile.NamedTemporaryFile(prefix="quarantine-") as spool:
        with store.open(key) as source:
            while chunk := source.read(CHUNK):
                spool.write(chunk)
        spool.flush()
        store.put(QUARANTINE_PREFIX + key, Path(spool.name), content_type=content_type_for(key))
    store.delete(key)
    log.info("orphan moved to quarantine", key=key)
    return f"moved to {QUARANTINE_PREFIX}{key}"


def purge_quarantine(run: VerifyRun, store, engine: sa.Engine, older_than: int) -> int:
    """Delete quarantined orphans moved more than ``older_than`` seconds ago; record each."""
    cutoff = time.time() - older_than
    after, deleted = QUARANTINE_PREFIX, 0
    while page := store.list_page(after, limit=1000):
        for info in page:
            if not info.key.startswith(QUARANTINE_PREFIX):
                return deleted
            after = info.key
            original = info.key[len(QUARANTINE_PREFIX) :]
            if info.mtime is None or info.mtime >= cutoff or not _still_unowned(engine, original):
                continue
            store.delete(info.key)
            deleted += 1
            with engine.begin() as connection:
                connection.execute(
                    insert(VerifyProblem)
                    .values(
                        run_id=run.id,
                        key=info.key,
                        kind="orphan_expired",
                        detail=f"quarantined {int(time.time() - info.mtime)} s ago",
                        action="deleted",
                        found_at=utcnow(),
                    )
                    .on_conflict_do_nothing()
                )
            log.info("quarantined orphan deleted", key=info.key)
    return deleted


# Whole runs ---------------------------------------------------------------------------------------


def finish_run_if_done(ctx, run_id: int) -> bool:
    """Close the run once every range is finished (purging old quarantined orphans first)."""
    with ctx.session() as session:
        # NO KEY UPDATE: one closer at a time, while problems can still point at the run.
        run = session.get(VerifyRun, run_id, with_for_update={"key_share": True})
        if run is None or run.finished_at is not None:
            return run is not None
        left = session.scalar(
            sa.select(sa.func.count())
            .select_from(VerifyRange)
            .where(VerifyRange.run_id == run_id, VerifyRange.finished_at.is_(None))
        )
        if left:
            return False
        if run.repair and run.delete_orphans_after_seconds is not None:
            purge_quarantine(
                run,
                stores_for(ctx, run.store).verified,
                ctx.engine,
                run.delete_orphans_after_seconds,
            )
        run.finished_at = utcnow()
        counts = totals(session, run)
        metrics.record_finished_run(run, counts)
        log.info("verify run finished", run=run.id, store=run.store, **counts)
        return True


def verify_run(
    ctx,
    run_id: int,
    *,
    owner: str | None = None,
    page_size: int = 1000,
    on_page: Callable[[int], None] | None = None,
    wait: Callable[[], None] | None = None,
) -> bool:
    """Verify every range of the run this process can lease, then close the run.

    Ranges leased by a live process elsewhere are left to it; with ``wait`` the call waits
    (calling it between tries) until they are done or free. True when the run is finished.
    """
    owner = owner or owner_name()
    settings = ctx.settings
    while True:
        with ctx.session() as session:
            run = session.get(VerifyRun, run_id)
            if run is None:
                raise VerifyError(f"no verify run {run_id}")
            session.expunge(run)
            range_id = claim_range(session, run_id, owner, settings.verify_lease_seconds)
        if range_id is None:
            if finish_run_if_done(ctx, run_id):
                return True
            if wait is None:
                return False
            wait()
            continue
        try:
            RangeVerifier(
                ctx,
                run,
                range_id,
                owner,
                page_size=page_size,
                orphan_min_age=settings.verify_orphan_min_age_seconds,
                lease_seconds=settings.verify_lease_seconds,
                on_page=on_page,
            ).run()
        except LeaseLost:
            log.warning("verify range taken over by another worker", range=range_id)


def verify_one_range(ctx, run_id: int, range_id: int, *, page_size: int = 1000) -> bool:
    """Verify one range if nobody holds it (a Celery task's unit); close the run if last."""
    owner = owner_name()
    with ctx.session() as session:
        run = session.get(VerifyRun, run_id)
        if run is None:
            return False
        session.expunge(run)
        claimed = claim_range(
            session, run_id, owner, ctx.settings.verify_lease_seconds, range_id=range_id
        )
    if claimed is None:
        return False
    try:
        RangeVerifier(
            ctx,
            run,
            range_id,
            owner,
            page_size=page_size,
            orphan_min_age=ctx.settings.verify_orphan_min_age_seconds,
            lease_seconds=ctx.settings.verify_lease_seconds,
        ).run()
    except LeaseLost:
        return False
    finish_run_if_done(ctx, run_id)
    return True


# Figures ------------------------------------------------------------------------------------------


def totals(session: orm.Session, run: VerifyRun) -> dict[str, int]:
    keys, skipped = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(VerifyRange.keys_done), 0),
            sa.func.coalesce(sa.func.sum(VerifyRange.skipped), 0),
        ).where(VerifyRange.run_id == run.id)
    ).one()
    by_kind = dict(
        session.execute(
            sa.select(VerifyProblem.kind, sa.func.count())
            .where(VerifyProblem.run_id == run.id)
            .group_by(VerifyProblem.kind)
        ).all()
    )
    counts = {"keys": int(keys), "skipped": int(skipped)}
    problems = 0
    for kind in PROBLEMS:
        counts[kind] = by_kind.get(kind, 0)
        problems += counts[kind]
    counts["ok"] = counts["keys"] - counts["skipped"] - problems
    counts["orphans_deleted_from_quarantine"] = by_kind.get("orphan_expired", 0)
    counts["repaired"] = session.scalar(
        sa.select(sa.func.count()).where(
            VerifyProblem.run_id == run.id,
            VerifyProblem.kind.in_(PROBLEMS),
            VerifyProblem.action.like("copied%") | VerifyProblem.action.like("moved%"),
        )
    )
    counts["unavailable"] = session.scalar(
        sa.select(sa.func.count()).where(
            VerifyProblem.run_id == run.id, VerifyProblem.action.like("file marked unavailable%")
        )
    )
    return counts


@dataclasses.dataclass
class Progress:
    run: VerifyRun
    ranges: int
    ranges_done: int
    keys_done: int
    problems: int

    @property
    def fraction(self) -> float:
        if self.run.finished_at is not None:
            return 1.0
        if not self.run.expected_keys:
            return self.ranges_done / self.ranges if self.ranges else 0.0
        return min(self.keys_done / self.run.expected_keys, 0.999)

    def eta_seconds(self, now: datetime.datetime) -> float | None:
        if self.run.finished_at is not None or self.fraction <= 0:
            return None
        elapsed = (now - self.run.started_at).total_seconds()
        return elapsed * (1 - self.fraction) / self.fraction


def progress(session: orm.Session, limit: int = 20) -> list[Progress]:
    runs = session.scalars(sa.select(VerifyRun).order_by(VerifyRun.id.desc()).limit(limit)).all()
    out = []
    for run in runs:
        ranges, ranges_done, keys_done = session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(VerifyRange.finished_at),
                sa.func.coalesce(sa.func.sum(VerifyRange.keys_done), 0),
            ).where(VerifyRange.run_id == run.id)
        ).one()
        problems = session.scalar(
            sa.select(sa.func.count()).where(
                VerifyProblem.run_id == run.id, VerifyProblem.kind.in_(PROBLEMS)
            )
        )
        out.append(Progress(run, ranges, ranges_done, int(keys_done), problems))
    return out


def report_lines(session: orm.Session, run: VerifyRun) -> Iterator[dict]:
    """One dict per problem (in key order), then the totals: the JSON-lines report."""
    rows = session.execute(
        sa.select(VerifyProblem)
        .where(VerifyProblem.run_id == run.id)
        .order_by(sa.collate(VerifyProblem.key, "C"))
        .execution_options(yield_per=1000)
    ).scalars()
    for problem in rows:
        yield {
            "run": run.id,
            "store": run.store,
            "key": problem.key,
            "class": problem.kind,
            "file_id": problem.file_id,
            "detail": problem.detail,
            "action": problem.action or ("none" if not run.repair else "pending"),
        }
    yield {"run": run.id, "store": run.store, "totals": totals(session, run)}
