"""A mirrored file's first request answers before the rest of its bookkeeping: the blob is
stored and recorded before the first byte goes out; its digests (and a wheel's metadata, a
copy to the cache store) once the server is done sending."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
import webob

from tests.support.artifacts import make_wheel
from warehouse.config import wsgi_app
from warehouse.packaging.models import File
from warehouse.upstreams.models import UpstreamFile
from warehouse.upstreams.services import add_upstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


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

    def recorded():
        db_session.rollback()
        return db_session.execute(
            sa.select(UpstreamFile.stored_at, File.blake2_256_digest).join(
                File, File.id == UpstreamFile.file_id
            )
        ).one()

    status = []
    environ = webob.Request.blank(path).environ
    body = wsgi_app(app_config)(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        assert b"".join(body) == wheel.read_bytes()
        assert status == ["200 OK"]
        # Stored and recorded before the first byte; the digests the upstream did not
        # publish only once the server is done sending.
        assert archive.exists(path.removeprefix("/packages/"))
        stored_at, blake2 = recorded()
        assert stored_at is not None and blake2 == ""
    finally:
        body.close()
    expected = hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest()
    assert recorded() == (stored_at, expected)
    # Later requests are the stored file's.
    assert webapp.get(path).body == wheel.read_bytes()
    assert static_folder.hits[f"/files/{wheel.name}"] == 1
