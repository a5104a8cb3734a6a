"""A mirrored file's first request: fetch it from the upstream, verify it, keep it.

The download view calls :meth:`FileFetcher.answer` only when no store has the blob, so files
already stored (uploads, and upstream files fetched before) never reach this module, and
keep being served while an upstream is down.

The bytes are checked against the upstream's SHA-256 before the first byte reaches the client
and before anything is stored: a mismatch answers 502 and keeps nothing. (Streaming to the
client while fetching would let a client receive bytes that turn out wrong and could only be
cut off mid-transfer, not answered with a 502.) Concurrent first requests for one file wait
on a PostgreSQL advisory lock, so the upstream is asked once; the others then find the blob
stored. ``streamed`` upstreams pass the verified bytes through and keep nothing.

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
# The bookkeeping's transaction, on a connection the first request used in autocommit.
_DEFAULT_ISOLATION = "READ COMMITTED"


class DigestMismatch(Exception):
    pass


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
                    fetched = _fetch_and_put(ctx, mirrored, file, upstream, [key])
                    if isinstance(fetched, Response):
                        return fetched
                    lock.release_as_stored()
                    finish = functools.partial(
                        _after_first_response, ctx, mirrored, file, upstream, connection, fetched
                    )
            # The lock is released once the blob is stored: concurrent first requests serve
            # it from the store while this one is still being sent.
        finally:
            if finish is None:
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
        if key.endswith(METADATA_SUFFIX):
            url, sha256 = mirrored.metadata_url, file.metadata_sha256
        else:
            url, sha256 = mirrored.url, file.sha256_digest
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


def _fetch_and_put(ctx, mirrored, file, upstream, keys: list[str]):
    """Fetch ``keys`` (of this file) from the upstream, verify and store them: ``{key:
    digests}``, or the error response (502, 503) with nothing kept."""
    sources = {
        file.path: (mirrored.url, file.sha256_digest),
        file.path + METADATA_SUFFIX: (mirrored.metadata_url, file.metadata_sha256),
    }
    fetched = []
    try:
        for key in keys:
            url, sha256 = sources[key]
            fetched.append((key, *_download(ctx, upstream, url, sha256)))
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
    if file.path in keys:
        metrics.FILES_FETCHED.labels(outcome="stored").inc()
    return {key: digests for key, _, digests in fetched}


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
    session = _file_session(ctx, upstream)
    handle = tempfile.NamedTemporaryFile(prefix="upstream-", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    hashes = {
        "sha256": hashlib.sha256(),
        "blake2": hashlib.blake2b(digest_size=32),
        "md5": hashlib.md5(),
    }
    try:
        try:
            with session.get(url, stream=True, timeout=TIMEOUT) as response:
                if response.status_code != 200:
                    raise UpstreamUnavailable(f"{url} answered {response.status_code}")
                for chunk in response.iter_content(CHUNK):
                    handle.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    metrics.BYTES_FETCHED.labels(kind="file").inc(len(chunk))
        except requests.RequestException as exc:
            raise UpstreamUnavailable(f"{url}: {exc.__class__.__name__}") from exc
        finally:
            handle.close()
        digests = {name: h.hexdigest() for name, h in hashes.items()}
        if digests["sha256"] != sha256.lower():
            raise DigestMismatch(f"{url}: sha256 {digests['sha256']}, expected {sha256}")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digests


class _fetch_lock:
    """A session-level advisory lock on one file, held on ``connection``."""

    def __init__(self, connection, file_id: int):
        self.connection, self.file_id = connection, file_id
        self.released = False

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
        if self.released:
            return
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
