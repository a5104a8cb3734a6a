"""The upload body's cap while it streams, and one sdist per release under real concurrency."""

from __future__ import annotations

import io
import os
import threading

import sqlalchemy as sa
import webtest

from tests.functional.test_upload import count, make_app, post_upload, stored_blobs
from tests.support.artifacts import make_sdist, make_wheel
from warehouse.packaging.models import File, JournalEntry, Project
from warehouse.upload.limits import FORM_FIELDS_ALLOWANCE

__all__ = ["make_app"]  # the fixture, imported to be found

MiB = 1024 * 1024
BOUNDARY = "----hostile"


class EndlessBody(io.RawIOBase):
    """A request body that never ends (what a chunked sender can do); counts what was read."""

    def __init__(self, head: bytes, *, explode: bool = False):
        self.head = head
        self.read_bytes = 0
        self.explode = explode

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.explode:
            raise AssertionError("the body was read")
        size = 65536 if size is None or size < 0 else size
        data = (self.head[self.read_bytes : self.read_bytes + size]).ljust(size, b"x")
        self.read_bytes += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def call(app: webtest.TestApp, headers: dict, body: EndlessBody, content_length=None):
    """POST /legacy/ straight to the WSGI app (webtest would need the whole body first)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/legacy/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": body,
        "wsgi.input_terminated": True,  # what gunicorn says of a chunked body
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
    }
    if content_length is not None:
        environ["CONTENT_LENGTH"] = str(content_length)
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    chunks = app.app(environ, lambda s, h, exc_info=None: status.append(s))
    return status[0], b"".join(chunks)


def hostile_head(name: str = "endless") -> bytes:
    fields = {":action": "file_upload", "protocol_version": "1", "name": name, "version": "1.0"}
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        for key, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{name}-1.0.tar.gz"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    return "".join(parts).encode()


def nothing_left(db_session, settings) -> None:
    assert count(db_session, File) == 0
    assert count(db_session, JournalEntry) == 0
    assert stored_blobs(settings) == []


def test_a_chunked_body_is_refused_once_it_passes_the_cap(
    make_app, auth_headers, db_session, settings
):
    app = make_app(max_file_size=MiB)
    body = EndlessBody(hostile_head())
    status, answer = call(app, auth_headers, body)
    cap = MiB + FORM_FIELDS_ALLOWANCE
    assert status.startswith("413 File too large. An upload request may be at most")
    assert b"(the file and its form)" in answer
    # The 300 MiB (or endless) body was read no further than the cap and one read past it.
    assert cap < body.read_bytes <= cap + 65536
    nothing_left(db_session, settings)


def test_a_too_long_content_length_is_refused_before_reading(
    make_app, auth_headers, db_session, settings
):
    app = make_app(max_file_size=MiB)
    body = EndlessBody(b"", explode=True)
    status, _ = call(app, auth_headers, body, content_length=300 * MiB)
    assert status.startswith("413 File too large.")
    nothing_left(db_session, settings)


def test_an_admin_raised_limit_raises_the_cap_and_holds_for_its_project_alone(
    make_app, auth_headers, tmp_path, db_session, settings
):
    app = make_app(max_file_size=MiB)
    post_upload(app, make_wheel(tmp_path, "roomy", "0.1"), auth_headers)
    db_session.rollback()
    db_session.execute(sa.update(Project).values(upload_limit=2 * MiB))
    db_session.commit()
    body = EndlessBody(hostile_head())
    status, _ = call(app, auth_headers, body)
    assert status.startswith("413 ") and body.read_bytes <= 2 * MiB + FORM_FIELDS_ALLOWANCE + 65536
    noise = os.urandom(3 * MiB // 2)  # incompressible: the wheel is over 1 MiB
    post_upload(
        app, make_wheel(tmp_path, "roomy", "0.2", extra_files={"roomy/n": noise}), auth_headers
    )
    other = make_wheel(tmp_path, "cramped", "0.2", extra_files={"cramped/n": noise})
    assert "File too large" in post_upload(app, other, auth_headers, status=413).status


def _send_at_once(webapp, start, answers, path, headers, version) -> None:
    app = webtest.TestApp(webapp.app)
    start.wait()
    answers.append(post_upload(app, path, headers, version=version, status="*"))


def test_concurrent_sdists_of_one_release_one_lands(
    webapp, auth_headers, tmp_path, db_session, settings
):
    """A .tar.gz and a .zip of one release sent at the same moment, several times over."""
    post_upload(webapp, make_wheel(tmp_path, "racer", "0.1"), auth_headers)
    for attempt in range(6):
        version = f"1.{attempt}"
        folder = tmp_path / version
        folder.mkdir()
        sdists = [
            make_sdist(folder, "racer", version),
            make_sdist(folder, "racer", version, extension=".zip"),
        ]
        start = threading.Barrier(len(sdists))
        answers: list[webtest.TestResponse] = []
        threads = [
            threading.Thread(
                target=_send_at_once, args=(webapp, start, answers, path, auth_headers, version)
            )
            for path in sdists
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(answer.status_int for answer in answers) == [200, 400], attempt
        refused = next(answer for answer in answers if answer.status_int == 400)
        assert refused.status == "400 Only one sdist may be uploaded per release."
    db_session.rollback()
    per_release = db_session.execute(
        sa.select(File.release_id, sa.func.count())
        .where(File.packagetype == "sdist")
        .group_by(File.release_id)
    ).all()
    assert len(per_release) == 6 and {n for _, n in per_release} == {1}
    # Only the winners' blobs are in the archive: the loser stored nothing.
    files = db_session.scalars(sa.select(File.path)).all()
    assert sorted(p for p in stored_blobs(settings) if not p.endswith(".metadata")) == sorted(files)
