"""A mirrored file's first request: fetch it from the upstream, verify it, keep it.

The download view calls :meth:`FileFetcher.answer` only when no store has the blob, so files
already stored (uploads, and upstream files fetched before) never reach this module, and
keep being served while an upstream is down.

A file is fetched into a temporary file by a thread of its own, hashed as it arrives. Nothing
is stored before its SHA-256 matches the upstream's, and a mismatch keeps nothing and raises
an alert. What the client sees depends on the file's size:

* a file that has arrived whole within its first ``STREAM_AFTER`` bytes (metadata files,
  small sdists) is verified before the answer: a mismatch is a 502, as before;
* a larger one (whose upstream gives its length) is streamed: the client gets the bytes as
  they arrive, all but the last one, which is sent once the digest matches. On a mismatch
  the connection is cut short of the announced ``Content-Length`` (at the latest before
  the last byte), so no client
  (nor a CDN) can take the body for a whole file; the 502 cannot be sent once the 200 is.
  The archive's copy and its fsyncs are made by the fetching thread after the digest
  matched, not on the client's path. (Waiting for the whole file first made a first
  request's overhead grow with the file's size: ~27 ms over the upstream's GET for 1 MB.)

Concurrent first requests for one file wait on a PostgreSQL advisory lock, so the upstream
is asked once; the others then find the blob stored. The fetching thread holds the lock until
the blob is stored, at the upstream's pace (not the first client's). ``streamed`` upstreams
pass the verified bytes through and keep nothing.

After storing, the file is marked pending for the cache store and copied there by the usual
task (:mod:`warehouse.storage.replication`), as an upload is.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa
import structlog
import urllib3
from pyramid.response import Response
from sqlalchemy import orm

from warehouse.db import utcnow
from warehouse.packaging.models import File, Project, Release
from warehouse.stats import origin as stats_origin
from warehouse.storage.keys import METADATA_SUFFIX, content_type_for
from warehouse.upstreams import metrics
from warehouse.upstreams.client import TIMEOUT, UpstreamUnavailable
from warehouse.upstreams.models import Policy, Upstream, UpstreamFile

log = structlog.get_logger(__name__)

# Names the advisory locks of first fetches among the index's advisory locks.
FETCH_LOCK_CLASS = 0x75707374  # "upst"
LOCK_WAIT_SECONDS = 180
CHUNK = 256 * 1024
# A first response is streamed once this much has arrived and the file has not ended;
# a file no larger is verified whole before the answer (a mismatch is then a 502).
STREAM_AFTER = 64 * 1024
# The bookkeeping's transaction, on a connection the first request used in autocommit.
_DEFAULT_ISOLATION = "READ COMMITTED"


class DigestMismatch(Exception):
    pass


class FirstResponseCut(Exception):
    """A streamed first response stopped short of its length: the server cuts the
    connection, and the client sees an incomplete body, never a wrong whole one."""


class FileFetcher:
    def __init__(self, registry):
        self.registry = registry

    def answer(self, request, key: str, serve_stored):
        """The response for ``key`` missing from every store, or None when it is not a
        mirrored file. ``serve_stored()`` answers the request once the blob is stored."""
        ctx = self.registry.get("tasks.context")
        if ctx is None:
            return None
        distribution_key = key.removesuffix(METADATA_SUFFIX)
        # One connection for the lookup, the lock and the bookkeeping: each checkout costs a
        # round trip of its own on the first request's path.
        try:
            # Autocommit: the lookup, the lock and its release are one round trip each, with
            # no BEGIN/COMMIT around them (the bookkeeping opens its own transaction).
            connection = ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            # Stored files are served without the database; a missing one stays a 404.
            log.warning("upstream.lookup_failed", key=key, error=str(exc))
            return None
        finish = None
        handed_off = False
        try:
            try:
                found = _look_up(connection, UpstreamFile.path == distribution_key)
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                log.warning("upstream.lookup_failed", key=key, error=str(exc))
                return None
            if found is None:
                return None
            mirrored, file, upstream, facts = found
            if key.endswith(METADATA_SUFFIX) and not file.metadata_sha256:
                return None
            if upstream.policy == Policy.streamed.value:
                return self._pass_through(ctx, request, key, mirrored, file, upstream)
            with _fetch_lock(connection, file.id) as lock:
                if not _stored(ctx.archive, key):
                    # Only the blob asked for is fetched before answering; the other of the
                    # pair (a wheel's metadata) and the rest of the bookkeeping wait until
                    # the response is sent (see _after_first_response).
                    url, sha256 = _source_of(key, mirrored, file)
                    transfer = _Transfer(_file_session(ctx, upstream), url, sha256).start()
                    if _may_stream(request):
                        transfer.wait_for(STREAM_AFTER)
                    if _may_stream(request) and _streamable(transfer):
                        # Opened before the hand-off: the keeping removes the file.
                        body = _Following(transfer)
                        keep = functools.partial(
                            _keep_streamed, ctx, mirrored, file, upstream, connection, lock, key
                        )
                        if not transfer.hand_off(keep):
                            # All in already (a fast upstream): kept beside the answer.
                            threading.Thread(
                                target=keep, args=(transfer,), name="upstream-keep", daemon=True
                            ).start()
                        # The fetching (or keeping) thread owns the lock and connection now.
                        lock.handed_off = handed_off = True
                        stats_origin.remember(file.path, stats_origin.FileFacts(*facts))
                        return _streamed_response(key, transfer, facts, body)
                    fetched = _fetch_and_put(
                        ctx, mirrored, file, upstream, [key], started={key: transfer}
                    )
                    if isinstance(fetched, Response):
                        return fetched
                    lock.release_as_stored()
                    finish = functools.partial(
                        _after_first_response, ctx, mirrored, file, upstream, connection, fetched
                    )
            # The lock is released once the blob is stored: concurrent first requests serve
            # it from the store while this one is still being sent.
        finally:
            if finish is None and not handed_off:
                connection.close()
        # The download view tags the response for statistics from these (no second query).
        stats_origin.remember(file.path, stats_origin.FileFacts(*facts))
        try:
            response = serve_stored()
        except BaseException:
            if finish is not None:
                finish()
            raise
        if finish is not None:
            response.app_iter = _ThenRun(response.app_iter, finish)
        return response

    # Keeping -----------------------------------------------------------------------------

    def _fetch_and_store(self, ctx, mirrored, file, upstream, connection):
        """Fetch, verify and keep the file and its metadata, and record it, now."""
        fetched = _fetch_and_put(ctx, mirrored, file, upstream, _keys_of(file, mirrored))
        if isinstance(fetched, Response):
            return fetched
        _record_stored(ctx, file, fetched, connection)
        return None

    # Passing through -----------------------------------------------------------------------

    def _pass_through(self, ctx, request, key, mirrored, file, upstream):
        url, sha256 = _source_of(key, mirrored, file)
        try:
            path, _ = _download(ctx, upstream, url, sha256)
        except DigestMismatch as exc:
            return _digest_mismatch(upstream, file, exc)
        except UpstreamUnavailable:
            metrics.FILES_FETCHED.labels(outcome="failed").inc()
            return _unavailable(upstream, file)
        metrics.FILES_FETCHED.labels(outcome="streamed").inc()
        stream = open(path, "rb")  # noqa: SIM115 - handed to the server, which closes it
        os.unlink(path)  # the open stream keeps the bytes until the server is done
        size = os.fstat(stream.fileno()).st_size
        headers = [
            ("Content-Type", content_type_for(key)),
            ("Content-Length", str(size)),
            ("ETag", f'"{sha256}"'),
            # Not kept here, so a CDN may keep it instead.
            ("Cache-Control", "public, max-age=31536000, immutable"),
        ]
        if request.method == "HEAD":
            stream.close()
            return Response(status=200, headerlist=headers, app_iter=[])
        wrapper = request.environ.get("wsgi.file_wrapper")
        body = wrapper(stream, CHUNK) if wrapper else _iter_close(stream)
        return Response(status=200, headerlist=headers, app_iter=body)


def _keys_of(file, mirrored) -> list[str]:
    """The blobs a mirrored file has: the distribution, and its PEP 658 metadata if any."""
    keys = [file.path]
    if file.metadata_sha256 and mirrored.metadata_url:
        keys.append(file.path + METADATA_SUFFIX)
    return keys


def _source_of(key: str, mirrored, file) -> tuple[str, str]:
    """The upstream's URL for ``key`` (a file or its metadata) and the SHA-256 it published."""
    if key.endswith(METADATA_SUFFIX):
        return mirrored.metadata_url, file.metadata_sha256
    return mirrored.url, file.sha256_digest


def _fetch_and_put(ctx, mirrored, file, upstream, keys: list[str], started=None):
    """Fetch ``keys`` (of this file) from the upstream, verify and store them: ``{key:
    digests}``, or the error response (502, 503) with nothing kept. ``started`` holds
    transfers already under way (``{key: _Transfer}``)."""
    started = dict(started or {})
    fetched = []
    try:
        for key in keys:
            transfer = started.pop(key, None)
            if transfer is None:
                transfer = _Transfer(_file_session(ctx, upstream), *_source_of(key, mirrored, file))
                transfer.start()
            fetched.append((key, *transfer.result()))
        for key, path, digests in fetched:
            ctx.archive.put(key, path, content_type=content_type_for(key), md5_hex=digests["md5"])
    except DigestMismatch as exc:
        return _digest_mismatch(upstream, file, exc)
    except UpstreamUnavailable as exc:
        metrics.FILES_FETCHED.labels(outcome="failed").inc()
        log.warning("upstream.fetch_failed", upstream=upstream.name, error=str(exc))
        return _unavailable(upstream, file)
    finally:
        for _, path, _ in fetched:
            path.unlink(missing_ok=True)
        for transfer in started.values():
            transfer.discard()
    if file.path in keys:
        metrics.FILES_FETCHED.labels(outcome="stored").inc()
    return {key: digests for key, _, digests in fetched}


def _may_stream(request) -> bool:
    """Whether this first request may be answered as the bytes arrive: a plain GET of the
    whole file (a range or a HEAD is answered from the stored blob)."""
    return request.method == "GET" and not request.environ.get("HTTP_RANGE")


def _streamable(transfer: _Transfer) -> bool:
    """Whether to answer before the file is verified: larger than ``STREAM_AFTER``, of a
    known length, and not failed already (then the answer can still be a 502 or 503)."""
    return transfer.length is not None and transfer.length > STREAM_AFTER and transfer.error is None


def _streamed_response(key: str, transfer: _Transfer, facts, body: _Following) -> Response:
    from warehouse.storage.views import etag_for, file_headers

    filename = key.rpartition("/")[2]
    is_metadata = filename.endswith(METADATA_SUFFIX)
    headers = file_headers(
        filename,
        etag_for(key, transfer.length, 0),
        None if is_metadata else stats_origin.FileFacts(*facts),
    )
    headers += [
        ("Content-Type", content_type_for(filename)),
        ("Content-Length", str(transfer.length)),
    ]
    return Response(status=200, headerlist=headers, app_iter=body)


def _keep_streamed(ctx, mirrored, file, upstream, connection, lock, key, transfer) -> None:
    """Run by the fetching thread once a streamed first response's file has all arrived: keep
    it if its digest matched, then the rest of the bookkeeping; release the lock either way."""
    recorded = False
    try:
        try:
            path, digests = transfer.result()
            ctx.archive.put(key, path, content_type=content_type_for(key), md5_hex=digests["md5"])
        except DigestMismatch as exc:
            _digest_mismatch(upstream, file, exc)
            return
        except UpstreamUnavailable as exc:
            metrics.FILES_FETCHED.labels(outcome="failed").inc()
            log.warning("upstream.fetch_failed", upstream=upstream.name, error=str(exc))
            return
        finally:
            transfer.discard()
        lock.release_as_stored()
        if key == file.path:
            metrics.FILES_FETCHED.labels(outcome="stored").inc()
        recorded = True
        # Closes the connection.
        _after_first_response(ctx, mirrored, file, upstream, connection, {key: digests})
    except Exception:  # noqa: BLE001 - on the fetching thread: nobody to answer, so log it
        log.warning("upstream.keep_failed", filename=file.filename, exc_info=True)
    finally:
        if not recorded:
            try:
                lock.unlock()
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                log.warning("upstream.unlock_failed", filename=file.filename, exc_info=True)
            connection.close()


def _after_first_response(ctx, mirrored, file, upstream, connection, fetched: dict) -> None:
    """Once the first response is sent: the rest of the pair, then the rest of the
    bookkeeping (digests, the copy to the cache store). A failure here costs no client
    anything: a metadata file still missing is fetched by its own first request, and a file
    not copied to the cache store is served from the archive."""
    try:
        rest = [k for k in _keys_of(file, mirrored) if k not in fetched]
        rest = [k for k in rest if not _stored(ctx.archive, k)]
        if rest:
            more = _fetch_and_put(ctx, mirrored, file, upstream, rest)
            if not isinstance(more, Response):
                fetched = {**fetched, **more}
        _record_stored(ctx, file, fetched, connection)
    except Exception:  # noqa: BLE001 - after the response: nobody to answer, so log it
        log.warning("upstream.record_failed", filename=file.filename, exc_info=True)
    finally:
        connection.close()


def _record_stored(ctx, file, fetched: dict, connection) -> None:
    from warehouse.storage import replication
    from warehouse.storage.tasks import send_copies

    distribution = fetched.get(file.path)
    metadata = fetched.get(file.path + METADATA_SUFFIX)
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        connection = connection.execution_options(isolation_level=_DEFAULT_ISOLATION)
    with orm.Session(bind=connection) as session:
        values = {}
        if distribution is not None and not file.blake2_256_digest:
            values["blake2_256_digest"] = distribution["blake2"]
        if distribution is not None and not file.md5_digest:
            values["md5_digest"] = distribution["md5"]
        if metadata is not None:
            values["metadata_blake2_256"] = metadata["blake2"]
        if values:
            session.execute(sa.update(File).where(File.id == file.id).values(**values))
        session.execute(
            sa.update(UpstreamFile)
            .where(UpstreamFile.file_id == file.id, UpstreamFile.stored_at.is_(None))
            .values(stored_at=utcnow())
        )
        if ctx.has_separate_cache:
            replication.mark_pending(session, [file.id])
        session.commit()
    if ctx.has_separate_cache:
        send_copies([file.id])


class _ThenRun:
    """A WSGI body that runs ``after`` once the server has sent it (on ``close``)."""

    def __init__(self, body, after):
        self.body, self.after = body, after

    def __iter__(self):
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            after, self.after = self.after, None
            if after is not None:
                after()


def _iter_close(stream):
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


def _stored(store, key: str) -> bool:
    try:
        return store.exists(key)
    except Exception:  # noqa: BLE001 - an unknown answer: fetch (put is idempotent)
        return False


# One HTTP session per upstream (and credentials) for the life of the process: a first
# request reuses a kept-alive connection to the upstream rather than opening its own.
_sessions: dict[tuple, requests.Session] = {}
_sessions_lock = threading.Lock()
_MAX_SESSIONS = 64


def _file_session(ctx, upstream: Upstream) -> requests.Session:
    from warehouse.upstreams.sync import client_for

    key = (upstream.id, upstream.url, upstream.username, upstream.password_encrypted)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            if len(_sessions) >= _MAX_SESSIONS:
                for stale in _sessions.values():
                    stale.close()
                _sessions.clear()
            session = _sessions[key] = client_for(ctx.settings, upstream).session
        return session


def _download(ctx, upstream: Upstream, url: str, sha256: str) -> tuple[Path, dict]:
    """The file at ``url`` in a temporary file, checked against ``sha256``; and its digests."""
    return _Transfer(_file_session(ctx, upstream), url, sha256).start().result()


class _Transfer:
    """One file fetched from the upstream into a temporary file by a thread of its own,
    hashed as it arrives, and readable (:class:`_Following`) while it grows."""

    def __init__(self, session: requests.Session, url: str, sha256: str):
        self.session, self.url, self.sha256 = session, url, sha256.lower()
        fd, name = tempfile.mkstemp(prefix="upstream-")
        self._out = fd
        self.path = Path(name)
        self.changed = threading.Condition()
        self.length: int | None = None  # the upstream's Content-Length, if it gave one
        self.received = 0
        self.digests: dict | None = None  # once every byte is in and the SHA-256 matched
        self.error: BaseException | None = None  # UpstreamUnavailable or DigestMismatch
        self._ended = False
        self._then = None  # run by the fetching thread when it ends, once handed off
        self._thread = threading.Thread(target=self._run, name="upstream-fetch", daemon=True)

    def start(self) -> _Transfer:
        self._thread.start()
        return self

    def wait_for(self, size: int) -> None:
        """Until ``size`` bytes are in, or the transfer has ended."""
        with self.changed:
            self.changed.wait_for(lambda: self._ended or self.received >= size)

    def hand_off(self, then) -> bool:
        """Have the fetching thread run ``then(self)`` when it ends; False if it has ended
        already (the caller then goes on with :meth:`result`)."""
        with self.changed:
            if self._ended:
                return False
            self._then = then
            return True

    def result(self) -> tuple[Path, dict]:
        """Once ended: the temporary file and its digests, or the transfer's error."""
        self._join()
        if self.error is not None:
            raise self.error
        if "md5" not in self.digests:
            # Only the SHA-256 is computed as the bytes arrive (it decides whether the last
            # byte may go out); the digests we keep come after, from the page cache.
            hashes = {"blake2": hashlib.blake2b(digest_size=32), "md5": hashlib.md5()}
            with open(self.path, "rb") as stream:
                while chunk := stream.read(CHUNK):
                    for h in hashes.values():
                        h.update(chunk)
            self.digests = {**self.digests, **{k: h.hexdigest() for k, h in hashes.items()}}
        return self.path, self.digests

    def discard(self) -> None:
        """Remove the temporary file (an open reader keeps its bytes until it is done)."""
        self._join()
        self.path.unlink(missing_ok=True)

    def _join(self) -> None:
        # The fetching thread itself runs what it was handed once it has ended.
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        digests = error = None
        try:
            digests = self._fetch()
        except requests.RequestException as exc:
            error = UpstreamUnavailable(f"{self.url}: {exc.__class__.__name__}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = UpstreamUnavailable(f"{self.url}: {exc.__class__.__name__}")
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the result
            error = exc
        finally:
            os.close(self._out)
        with self.changed:
            self.digests, self.error, self._ended = digests, error, True
            self.changed.notify_all()
            then = self._then
        if then is not None:
            then(self)

    def _fetch(self) -> dict:
        sha256 = hashlib.sha256()
        with self.session.get(self.url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise UpstreamUnavailable(f"{self.url} answered {response.status_code}")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and not response.headers.get("Content-Encoding"):
                self.length = int(length)
            # read1: whatever has arrived, up to CHUNK, so bytes go on as they come.
            read = functools.partial(response.raw.read1, CHUNK, decode_content=True)
            while chunk := read():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._out, view) :]
                sha256.update(chunk)
                metrics.BYTES_FETCHED.labels(kind="file").inc(len(chunk))
                with self.changed:
                    self.received += len(chunk)
                    self.changed.notify_all()
        if self.length is not None and self.received != self.length:
            raise UpstreamUnavailable(
                f"{self.url}: {self.received} bytes of the {self.length} announced"
            )
        digest = sha256.hexdigest()
        if digest != self.sha256:
            raise DigestMismatch(f"{self.url}: sha256 {digest}, expected {self.sha256}")
        return {"sha256": digest}


class _Following:
    """A streamed first response's body: the transfer's bytes as they arrive, all but the last
    one until the digest matched (then it too). A failed transfer cuts the body short."""

    def __init__(self, transfer: _Transfer):
        self.transfer = transfer
        # Opened now: the fetching thread removes the file once it has kept it.
        self.stream = open(transfer.path, "rb")  # noqa: SIM115 - closed by close()

    def __iter__(self):
        transfer, read = self.transfer, self.stream.read
        length, sent = transfer.length, 0
        while sent < length:
            with transfer.changed:
                while True:
                    if transfer.error is not None:
                        raise FirstResponseCut(f"{transfer.url}: {transfer.error}")
                    verified = transfer.digests is not None
                    ready = length if verified else min(transfer.received, length - 1)
                    if ready > sent:
                        break
                    transfer.changed.wait()
            while sent < ready:
                chunk = read(min(CHUNK, ready - sent))
                if not chunk:  # cannot happen: the bytes were written before counted
                    raise FirstResponseCut(f"{transfer.url}: temporary file ended early")
                sent += len(chunk)
                yield chunk

    def close(self) -> None:
        self.stream.close()


class _fetch_lock:
    """A session-level advisory lock on one file, held on ``connection``."""

    def __init__(self, connection, file_id: int):
        self.connection, self.file_id = connection, file_id
        self.released = False
        # A streamed first response's fetching thread releases it (see _keep_streamed).
        self.handed_off = False

    def __enter__(self):
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        statement = sa.select(sa.func.pg_try_advisory_lock(FETCH_LOCK_CLASS, self.file_id))
        while not self.connection.execute(statement).scalar():
            self.connection.rollback()
            if time.monotonic() > deadline:
                raise UpstreamUnavailable("another request is still fetching this file")
            time.sleep(0.05)
        self.connection.commit()
        return self

    def __exit__(self, *exc_info):
        if self.released or self.handed_off:
            return
        self.unlock()

    def unlock(self) -> None:
        self.connection.rollback()
        self.connection.execute(
            sa.select(sa.func.pg_advisory_unlock(FETCH_LOCK_CLASS, self.file_id))
        )
        self.connection.commit()

    def release_as_stored(self) -> None:
        """Record the file as stored and release the lock, in one statement (one round
        trip): the file is then known stored however the rest of the request goes."""
        self.connection.rollback()
        stored = (
            sa.update(UpstreamFile)
            .where(UpstreamFile.file_id == self.file_id)
            .values(stored_at=sa.func.now())
            .returning(UpstreamFile.file_id)
            .cte("stored")
        )
        self.connection.execute(
            sa.select(
                sa.func.pg_advisory_unlock(FETCH_LOCK_CLASS, self.file_id),
                sa.select(sa.func.count()).select_from(stored).scalar_subquery(),
            )
        )
        self.connection.commit()
        self.released = True


def _look_up(connection, where):
    """(UpstreamFile, File, Upstream, (project, version, package type)) or None."""
    with orm.Session(bind=connection) as session:
        row = session.execute(
            sa.select(UpstreamFile, File, Upstream, Project.normalized_name, Release.version)
            .join(File, File.id == UpstreamFile.file_id)
            .join(Upstream, Upstream.id == UpstreamFile.upstream_id)
            .join(Release, Release.id == File.release_id)
            .join(Project, Project.id == Release.project_id)
            .where(where)
        ).one_or_none()
        if row is None:
            connection.rollback()
            return None
        mirrored, file, upstream, project, version = row
        session.expunge_all()
    connection.rollback()
    return mirrored, file, upstream, (project, version, file.packagetype)


def _text(status: int, message: str, headers=()) -> Response:
    body = (message + "\n").encode()
    return Response(
        status=status,
        body=body,
        headerlist=[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *headers,
        ],
    )


def _digest_mismatch(upstream, file, exc: Exception):
    """502, an alert in the log and a metric: the upstream's bytes are not what it published."""
    metrics.FILES_FETCHED.labels(outcome="digest_mismatch").inc()
    log.error(
        "upstream.digest_mismatch",
        alert=True,
        upstream=upstream.name,
        filename=file.filename,
        detail=str(exc),
    )
    return _text(
        502,
        f"Bad Gateway: {file.filename} from upstream {upstream.name!r} does not match "
        "its published SHA-256 digest; it was not kept.",
    )


def _unavailable(upstream: Upstream, file: File) -> Response:
    return _text(
        503,
        f"Service Unavailable: {file.filename} comes from upstream {upstream.name!r}, which "
        "cannot be reached now and the file is not stored here yet; try again later.",
        [("Retry-After", "60")],
    )


def fetch_into_archive(ctx, file_id: int) -> str:
    """Fetch and keep one mirrored file now (``immediate`` upstreams); its outcome."""
    with ctx.engine.connect() as connection:
        found = _look_up(connection, UpstreamFile.file_id == file_id)
        if found is None:
            return "gone"
        mirrored, file, upstream, _ = found
        with _fetch_lock(connection, file.id):
            if _stored(ctx.archive, file.path):
                return "stored already"
            failure = FileFetcher(None)._fetch_and_store(ctx, mirrored, file, upstream, connection)
    if failure is not None:
        if failure.status_code == 503:
            raise UpstreamUnavailable(f"{file.filename}: upstream {upstream.name} unreachable")
        return "digest mismatch"
    return "stored"
