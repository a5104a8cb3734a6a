"""The ``/simple/`` listing kept in chunks (warehouse.api.root_listing) against a full render."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest
import sqlalchemy as sa
from webob import Request

from tests.support.factories import create_file, create_project, create_release
from warehouse.admin.services import AUTOMATIC, quarantine, unquarantine
from warehouse.api import root_listing, simple
from warehouse.api.cache import invalidate_project, snapshot_session
from warehouse.api.models import RootListingChunk
from warehouse.config import wsgi_app
from warehouse.packaging.management import ProjectManagement
from warehouse.packaging.models import Project, Release
from warehouse.packaging.services import DatabaseProjectService
from warehouse.scanning.holds import REASON_MALICIOUS, active_hold, hold_release, lift_hold

V1_JSON = "application/vnd.pypi.simple.v1+json"
FORMATS = {"html": "text/html", "json": V1_JSON}


@pytest.fixture
def small_chunks(monkeypatch):
    # A few projects make many chunks, so that splits and empty chunks happen.
    monkeypatch.setattr(root_listing, "CHUNK_TARGET", 3)
    monkeypatch.setattr(root_listing, "CHUNK_MAX", 6)
    monkeypatch.setattr(root_listing, "FETCH_CHUNKS", 2)


def full_render(engine, fmt: str) -> tuple[int, bytes]:
    with snapshot_session(engine) as session:
        serial = simple.journal.last_serial(session)
        return serial, simple._render_index(fmt)(session, serial)


def get(webapp, method: str = "GET", **headers):
    """The response as sent (WebTest would decode a gzipped body)."""
    request = Request.blank("/simple/", method=method)
    request.headers.update(headers)
    return request.get_response(webapp.app)


def fetch(webapp, fmt: str, gzipped: bool, **extra):
    headers = {"Accept": FORMATS[fmt], "Accept-Encoding": "gzip" if gzipped else "identity"}
    return get(webapp, **headers, **extra)


def assert_matches_full_render(webapp, engine) -> None:
    for fmt in FORMATS:
        serial, expected = full_render(engine, fmt)
        for gzipped in (False, True):
            response = fetch(webapp, fmt, gzipped)
            assert response.headers["X-PyPI-Last-Serial"] == str(serial)
            assert int(response.headers["Content-Length"]) == len(response.body)
            body = response.body
            if gzipped:
                assert response.headers["Content-Encoding"] == "gzip"
                # One gzip member, as if compressed whole (Varnish checks the stream it
                # fetches and refuses data after the first member's end).
                inflater = zlib.decompressobj(wbits=31)
                body = inflater.decompress(response.body)
                assert inflater.eof and inflater.unused_data == b""
                assert gzip.decompress(response.body) == body
            assert body == expected, (fmt, gzipped)


class Story:
    """Random changes to the index, through the code that makes them in production."""

    def __init__(self, session, rng: random.Random):
        self.session = session
        self.rng = rng
        self.count = 0

    def projects(self, **where) -> list[Project]:
        query = sa.select(Project).order_by(Project.id)
        for column, value in where.items():
            query = query.where(getattr(Project, column) == value)
        return list(self.session.scalars(query))

    def name(self) -> str:
        self.count += 1
        stem = self.rng.choice(["a", "Zeta", "py", "py_x", "Py.Lib", "m-0", "q9", "Z"])
        return f"{stem}{self.rng.choice(['', '-', '_', '.'])}{self.count}"

    def create(self) -> None:
        create_project(self.session, self.name(), self.rng.choice([[], ["1.0"]]))

    def create_many(self) -> None:
        # Several projects in one transaction: a chunk grows past its maximum and is cut.
        for _ in range(self.rng.randint(4, 9)):
            create_project(self.session, self.name(), commit=False)
        self.session.commit()

    def upload(self) -> None:
        project = self._pick()
        if project is None:
            return
        version = f"{self.rng.randint(2, 99)}.{self.count}"
        release = create_release(self.session, project, version, files=(), commit=False)
        create_file(self.session, release)

    def yank(self) -> None:
        release = self._release()
        if release is not None:
            self._management().yank_release(release, "broken", None)
            self.session.commit()

    def delete(self) -> None:
        project = self._pick()
        if project is not None:
            self._management().delete_project(project, None)
            self.session.commit()

    def delete_many(self) -> None:
        # Every project of a chunk goes at once: the chunk is left empty and dropped.
        for project in self.projects(lifecycle_status=None)[: self.rng.randint(2, 4)]:
            self._management().delete_project(project, None)
        self.session.commit()

    def quarantine(self) -> None:
        project = self._pick()
        if project is not None:
            quarantine(self.session, AUTOMATIC, project, "looks malicious")
            self.session.commit()

    def release_from_quarantine(self) -> None:
        quarantined = [p for p in self.projects() if p.quarantined]
        if quarantined:
            unquarantine(self.session, AUTOMATIC, self.rng.choice(quarantined))
            self.session.commit()

    def hold(self) -> None:
        release = self._release()
        if release is None:
            return
        hold = active_hold(self.session, release.id)
        if hold is None:
            hold_release(self.session, release.project, release, REASON_MALICIOUS)
        else:
            lift_hold(self.session, hold, "admin", "false positive")
        self.session.commit()

    def _pick(self) -> Project | None:
        listed = self.projects(lifecycle_status=None)
        return self.rng.choice(listed) if listed else None

    def _release(self) -> Release | None:
        releases = list(self.session.scalars(sa.select(Release).order_by(Release.id)))
        return self.rng.choice(releases) if releases else None

    def _management(self) -> ProjectManagement:
        return ProjectManagement(self.session, DatabaseProjectService(self.session))


STEPS = [
    (Story.create, 5),
    (Story.create_many, 3),
    (Story.upload, 4),
    (Story.yank, 2),
    (Story.delete, 2),
    (Story.delete_many, 1),
    (Story.quarantine, 2),
    (Story.release_from_quarantine, 2),
    (Story.hold, 2),
]


def chunk_sizes(session) -> list[int]:
    return session.scalars(
        sa.select(RootListingChunk.projects).order_by(RootListingChunk.lower_bound)
    ).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_after_random_changes_the_listing_is_the_full_render(
    webapp, db_session, clean_database, small_chunks, seed
):
    rng = random.Random(seed)
    story = Story(db_session, rng)
    steps, weights = zip(*STEPS, strict=True)
    most_chunks = 0
    for _ in range(20):
        rng.choices(steps, weights)[0](story)
        assert_matches_full_render(webapp, clean_database)
        sizes = chunk_sizes(db_session)
        most_chunks = max(most_chunks, len(sizes))
        # Chunks hold at most CHUNK_MAX projects; only the first may be empty.
        assert all(0 < size <= root_listing.CHUNK_MAX for size in sizes[1:])
    assert most_chunks >= 3  # chunks were cut


def test_a_listing_never_built_is_rendered_whole_then_built_by_the_next_commit(
    webapp, db_session, clean_database, small_chunks
):
    for n in range(10):
        create_project(db_session, f"early-{n}", commit=False)
    db_session.commit()
    # As after the migration, or projects loaded with COPY: no chunks.
    db_session.execute(sa.delete(RootListingChunk))
    db_session.commit()
    assert_matches_full_render(webapp, clean_database)
    create_project(db_session, "trigger")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RootListingChunk)) >= 3
    assert_matches_full_render(webapp, clean_database)


def test_the_listing_is_streamed_a_few_chunks_at_a_time(app_config, db_session, small_chunks):
    for n in range(60):
        create_project(db_session, f"streamed-{n:02}", commit=False)
    db_session.commit()
    app = wsgi_app(app_config)
    for fmt, encoding in (("html", "identity"), ("json", "gzip")):
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/simple/",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "HTTP_ACCEPT": FORMATS[fmt],
            "HTTP_ACCEPT_ENCODING": encoding,
        }
        started = []

        def start_response(status, headers, exc_info=None, started=started):
            started.append(status)

        body_iter = app(environ, start_response)
        assert started == ["200 OK"]
        assert not isinstance(body_iter, list | tuple)
        pieces = list(body_iter)
        body_iter.close()
        body = b"".join(pieces)
        if encoding == "gzip":
            body = gzip.decompress(body)
        # A piece per chunk (20 chunks of 3 projects) between the head and the tail: the
        # worker holds a few chunks at a time, never the listing.
        assert len(pieces) >= 20
        assert max(len(piece) for piece in pieces) < len(body) / 10
        assert body == full_render(db_session.get_bind(), fmt)[1]


def test_etags_and_304s(webapp, db_session, redis_client):
    create_project(db_session, "tagged")
    for fmt in FORMATS:
        plain = fetch(webapp, fmt, False)
        zipped = fetch(webapp, fmt, True)
        # Read to the end, as a server does (the listing holds its snapshot until then).
        assert gzip.decompress(zipped.body) == plain.body
        serial = plain.headers["X-PyPI-Last-Serial"]
        assert plain.headers["ETag"] == f'"{fmt}-{serial}"'
        assert zipped.headers["ETag"] == f'"{fmt}-{serial}-gzip"'
        for response in (plain, zipped):
            assert response.headers["Vary"] == "Accept, Accept-Encoding"
            assert response.headers["Surrogate-Key"] == "simple simple-index" + (
                " simple-index-serials" if fmt == "json" else ""
            )
        # Either form's tag revalidates either form.
        for tag in (plain.headers["ETag"], zipped.headers["ETag"]):
            for gzipped in (False, True):
                headers = {
                    "Accept": FORMATS[fmt],
                    "Accept-Encoding": "gzip" if gzipped else "identity",
                    "If-None-Match": tag,
                }
                response = get(webapp, **headers)
                assert response.status_int == 304
                assert response.body == b""
                assert response.headers["Vary"] == "Accept, Accept-Encoding"
                assert response.headers["ETag"] == (
                    zipped.headers["ETag"] if gzipped else plain.headers["ETag"]
                )
    old = fetch(webapp, "json", True)
    assert old.body
    old_tag = old.headers["ETag"]
    create_project(db_session, "newer")
    # What the commit's reactions do in the app (this bare session has no Redis): a 304 from
    # the serial the process remembers is answered only until the change is announced.
    invalidate_project(redis_client, "newer")
    response = fetch(webapp, "json", True, **{"If-None-Match": old_tag})
    assert response.status_int == 200
    assert b'"newer"' in gzip.decompress(response.body)
    head = get(webapp, "HEAD", **{"Accept-Encoding": "gzip"})
    assert head.status_int == 200 and head.body == b""


def test_crc32_combine_joins_the_parts_crcs():
    rng = random.Random(0)
    for a_size, b_size in [(0, 0), (0, 9), (9, 0), (1, 1), (1000, 65536), (70000, 3)]:
        a, b = rng.randbytes(a_size), rng.randbytes(b_size)
        combined = root_listing.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b))
        assert combined == zlib.crc32(a + b)
