"""A mirrored file's first request answers before the rest of its bookkeeping. A small file is
stored and recorded before the first byte goes out; its digests (and a wheel's metadata, a
copy to the cache store) once the server is done sending. A large one streams as it arrives
and is kept once verified; a mismatch cuts it short of its length."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
import sqlalchemy as sa
import webob

from tests.support.artifacts import make_wheel
from warehouse.config import wsgi_app
from warehouse.packaging.models import File
from warehouse.upstreams.fetch import FETCH_LOCK_CLASS, STREAM_AFTER, FirstResponseCut
from warehouse.upstreams.models import UpstreamFile
from warehouse.upstreams.services import add_upstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _recorded(db_session):
    """The mirrored file's stored time and BLAKE2 digest, as committed."""
    db_session.rollback()
    return db_session.execute(
        sa.select(UpstreamFile.stored_at, File.blake2_256_digest).join(
            File, File.id == UpstreamFile.file_id
        )
    ).one()


def test_the_answer_is_sent_before_the_bookkeeping(
    webapp, app_config, db_session, settings, static_folder, tmp_path
):
    wheel = make_wheel(tmp_path, "answered-first", "1.0")
    static_folder.add("answered-first", wheel)
    add_upstream(db_session, settings, name="static", url=static_folder.simple_url)
    db_session.commit()
    (file,) = webapp.get("/simple/answered-first/", headers=JSON).json["files"]
    path = file["url"].removeprefix("http://localhost")
    archive = app_config.registry["storage.instance"]

    status = []
    environ = webob.Request.blank(path).environ
    body = wsgi_app(app_config)(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        assert b"".join(body) == wheel.read_bytes()
        assert status == ["200 OK"]
        # Stored and recorded before the first byte; the digests the upstream did not
        # publish only once the server is done sending.
        assert archive.exists(path.removeprefix("/packages/"))
        stored_at, blake2 = _recorded(db_session)
        assert stored_at is not None and blake2 == ""
    finally:
        body.close()
    expected = hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest()
    assert _recorded(db_session) == (stored_at, expected)
    # Later requests are the stored file's.
    assert webapp.get(path).body == wheel.read_bytes()
    assert static_folder.hits[f"/files/{wheel.name}"] == 1


def _mirror_one(webapp, db_session, settings, static_folder, tmp_path, name, data):
    """Publish ``data`` as ``name``'s sdist upstream; its path here and its file upstream."""
    source = tmp_path / f"{name}-1.0.tar.gz"
    source.write_bytes(data)
    static_folder.add(name, source)
    add_upstream(db_session, settings, name="static", url=static_folder.simple_url)
    db_session.commit()
    (file,) = webapp.get(f"/simple/{name}/", headers=JSON).json["files"]
    return file["url"].removeprefix("http://localhost"), static_folder.root / "files" / source.name


def _eventually(check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def test_a_large_file_is_streamed_as_it_arrives_and_kept_once_verified(
    webapp, app_config, db_session, settings, static_folder, tmp_path
):
    data = os.urandom(4 * STREAM_AFTER)
    path, upstream_file = _mirror_one(
        webapp, db_session, settings, static_folder, tmp_path, "streamed-big", data
    )
    # The upstream sends half the file, then waits: the client has bytes before it ends.
    gate = static_folder.gate(upstream_file.name, 2 * STREAM_AFTER)
    archive = app_config.registry["storage.instance"]
    key = path.removeprefix("/packages/")
    status, headers = [], {}

    def start_response(s, headerlist, exc_info=None):
        status.append(s)
        headers.update(headerlist)

    body = wsgi_app(app_config)(webob.Request.blank(path).environ, start_response)
    try:
        chunks = iter(body)
        first = next(chunks)
        assert status == ["200 OK"] and headers["Content-Length"] == str(len(data))
        assert 0 < len(first) < len(data) and data.startswith(first)
        assert not archive.exists(key)  # nothing kept before every byte is in and verified
        gate.set()
        assert first + b"".join(chunks) == data
    finally:
        gate.set()
        body.close()
    _eventually(lambda: archive.exists(key))
    expected = hashlib.blake2b(data, digest_size=32).hexdigest()

    _eventually(lambda: _recorded(db_session)[1] == expected)
    assert _recorded(db_session)[0] is not None
    assert webapp.get(path).body == data
    assert static_folder.hits[f"/files/{upstream_file.name}"] == 1


def test_a_large_file_that_does_not_match_is_cut_short_and_not_kept(
    webapp, app_config, db_session, settings, static_folder, tmp_path
):
    data = os.urandom(4 * STREAM_AFTER)
    path, upstream_file = _mirror_one(
        webapp, db_session, settings, static_folder, tmp_path, "streamed-bad", data
    )
    # Same length, other bytes: only the digest can tell, once the answer has started.
    upstream_file.write_bytes(os.urandom(len(data)))
    gate = static_folder.gate(upstream_file.name, 2 * STREAM_AFTER)
    received = bytearray()
    status = []
    start_response = lambda s, headers, exc_info=None: status.append(s)  # noqa: E731
    body = wsgi_app(app_config)(webob.Request.blank(path).environ, start_response)
    try:
        assert status == ["200 OK"]
        gate.set()
        with pytest.raises(FirstResponseCut, match="sha256"):
            for chunk in body:
                received += chunk
    finally:
        gate.set()
        body.close()
    # Short of the announced length (at most all but the last byte): no client can take it
    # for the whole file.
    served = upstream_file.read_bytes()
    assert len(received) < len(served) and served.startswith(received)
    archive = app_config.registry["storage.instance"]
    key = path.removeprefix("/packages/")

    def lock_released():
        db_session.rollback()
        held = sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
            " AND classid::bigint = :lock_class AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return db_session.scalar(held, {"lock_class": FETCH_LOCK_CLASS}) == 0

    _eventually(lock_released)
    assert not archive.exists(key)
    assert db_session.scalar(sa.select(UpstreamFile.stored_at)) is None
    # Once the upstream has the right bytes again, the next request fetches and keeps them.
    del static_folder.gates[f"/files/{upstream_file.name}"]
    upstream_file.write_bytes(data)
    assert webapp.get(path).body == data
    _eventually(lambda: archive.exists(key))


def test_concurrent_first_requests_of_a_large_file_fetch_it_once(
    webapp, db_session, settings, static_folder, tmp_path
):
    from concurrent.futures import ThreadPoolExecutor

    data = os.urandom(4 * STREAM_AFTER)
    path, upstream_file = _mirror_one(
        webapp, db_session, settings, static_folder, tmp_path, "streamed-crowd", data
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: webapp.get(path).body, range(4)))
    assert bodies == [data] * 4
    assert static_folder.hits[f"/files/{upstream_file.name}"] == 1
