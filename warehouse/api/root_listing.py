"""The ``/simple/`` root listing: kept pre-rendered in chunks, assembled as a stream.

At PyPI's size (700,000 projects) the listing is 40 MB of HTML and 33 MB of JSON, and the JSON
form changes with nearly every upload (each project's ``_last-serial``). Rendering it whole
took seconds of a worker's CPU before the first byte, and the whole page in the worker's
memory. So it is kept in PostgreSQL as chunks (:class:`RootListingChunk`): runs of about
``CHUNK_TARGET`` consecutive listed projects in name order, each holding its HTML lines and
JSON objects, plain and compressed.

* A commit re-renders only the chunks holding the projects its journal entries name
  (:func:`update`, a reaction in :mod:`warehouse.effects`), inside its own transaction and
  under the journal's lock: a snapshot that sees a serial sees the chunks at that serial, so
  the listing is current as soon as the change is, and writers never race for a chunk. A
  chunk grown past ``CHUNK_MAX`` is cut in two; one left empty is dropped.
* A request (:func:`open_listing`) reads the serial and the chunks in one snapshot and sends
  them in order between a head and a tail rendered per request, fetching a few chunks at a
  time: the worker's memory does not grow with the listing.
* The gzip form is one gzip member, as if compressed whole: each chunk is stored as raw
  DEFLATE ending in a sync flush (byte-aligned, not final), which can follow any other; the
  response adds the gzip header, a final empty block, and the CRC-32 of the whole, combined
  from the chunks' CRCs. (Several concatenated gzip members would be valid gzip too, but
  Varnish refuses a backend body with data after the end of its first member.)

The table being empty means the listing was never built (a fresh migration, or projects
loaded by hand): the next commit builds it whole, and until then requests get the full render
(:func:`warehouse.api.simple.render_index_html`), which the tests hold the chunks to, byte for
byte.
"""

from __future__ import annotations

import contextlib
import functools
import struct
import zlib
from collections.abc import Iterable, Iterator
from html import escape

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.api.common import dump_json
from warehouse.api.models import RootListingChunk
from warehouse.db import driver_connection
from warehouse.packaging import journal
from warehouse.packaging.models import Project

# A chunk is re-rendered whole when one of its projects changes: small enough for a commit
# to afford (milliseconds), large enough that a response is a few hundred database rows.
CHUNK_TARGET = 250
CHUNK_MAX = 2 * CHUNK_TARGET
# Chunks fetched from the database at a time while a response is sent.
FETCH_CHUNKS = 32
COMPRESS_LEVEL = 6

API_VERSION = "1.3"  # the same as warehouse.api.simple's (imported there from here)
HTML_HEAD = (
    "<!DOCTYPE html>\n<html>\n  <head>\n"
    f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
    "    <title>{title}</title>\n  </head>\n  <body>\n"
)
HTML_TAIL = "  </body>\n</html>\n"


# Rendering chunks ----------------------------------------------------------------------------


def html_lines(rows) -> bytes:
    return "".join(
        f'    <a href="/simple/{escape(normalized)}/">{escape(name)}</a>\n'
        for name, normalized, _ in rows
    ).encode()


def json_objects(rows) -> bytes:
    """The listing's JSON objects for ``rows``, comma-separated (a JSON list without [ ])."""
    if not rows:
        return b""
    return dump_json([{"name": name, "_last-serial": last} for name, _, last in rows])[1:-1]


def deflate_piece(data: bytes) -> bytes:
    """Raw DEFLATE of ``data`` that any other piece may follow in the same stream."""
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _listed_rows(session: orm.Session, lower: str, upper: str | None):
    query = (
        sa.select(Project.name, Project.normalized_name, Project.last_serial)
        .where(Project.lifecycle_status.is_(None), Project.normalized_name >= lower)
        .order_by(Project.normalized_name)
    )
    if upper is not None:
        query = query.where(Project.normalized_name < upper)
    # Streamed: a build from scratch reads every project, and must not hold them all.
    return session.execute(query.execution_options(yield_per=CHUNK_TARGET))


def _chunk_values(lower_bound: str, rows) -> dict:
    html = html_lines(rows)
    json = json_objects(rows)
    return {
        "lower_bound": lower_bound,
        "projects": len(rows),
        "html": html,
        "html_deflate": deflate_piece(html),
        "html_crc": zlib.crc32(html),
        "json": json,
        "json_deflate": deflate_piece(json),
        "json_crc": zlib.crc32(json),
    }


def _write(session: orm.Session, lower_bound: str, rows) -> None:
    values = _chunk_values(lower_bound, rows)
    insert = sa.dialects.postgresql.insert(RootListingChunk).values(values)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[RootListingChunk.lower_bound],
            set_={name: insert.excluded[name] for name in values if name != "lower_bound"},
        )
    )


def _render_range(session: orm.Session, lower: str, upper: str | None) -> None:
    """Render the chunk at ``lower`` (covering up to ``upper``), cut in pieces if too big."""
    rows: list = []
    bound = lower
    for row in _listed_rows(session, lower, upper):
        rows.append(tuple(row))
        if len(rows) > CHUNK_MAX:
            _write(session, bound, rows[:CHUNK_TARGET])
            rows = rows[CHUNK_TARGET:]
            bound = rows[0][1]
    if rows or bound == "":
        _write(session, bound, rows)
    else:
        # Nothing left in this range: its (empty) span joins the chunk before it.
        session.execute(sa.delete(RootListingChunk).where(RootListingChunk.lower_bound == bound))


def update(session: orm.Session, normalized_names: Iterable[str]) -> None:
    """Re-render the chunks holding these projects (call under the journal's lock)."""
    names = sorted(set(normalized_names))
    if not names:
        return
    ranges = session.execute(_CHUNKS_OF_NAMES, {"names": names}).all()
    # No bound below a name: the table is empty, the listing never built.
    if any(bound is None for bound, _ in ranges):
        rebuild(session)
        return
    for bound, upper in ranges:
        _render_range(session, bound, upper)


# Each name's chunk (the greatest bound not above the name) and the bound after it, compared by
# PostgreSQL in the collation that orders the listing. The first chunk's bound, '', is below
# every name, so a bound is NULL only when there are no chunks at all.
_CHUNKS_OF_NAMES = sa.text(
    """
SELECT bound, (SELECT min(lower_bound) FROM root_listing_chunks WHERE lower_bound > bound)
FROM (
    SELECT DISTINCT (
        SELECT max(lower_bound) FROM root_listing_chunks WHERE lower_bound <= n.name
    ) AS bound
    FROM unnest(CAST(:names AS text[])) AS n(name)
) AS own
ORDER BY bound
"""
)


def rebuild(session: orm.Session) -> None:
    """Render the whole listing afresh (call under the journal's lock)."""
    session.execute(sa.delete(RootListingChunk))
    _render_range(session, "", None)


def rebuild_locked(session: orm.Session) -> None:
    """:func:`rebuild`, taking the journal's lock first (outside a commit's reactions)."""
    journal.lock(session)
    rebuild(session)


# Assembling a response -----------------------------------------------------------------------

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no mtime, unknown OS
_FINAL_BLOCK = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
_SEPARATOR = b","
_SEPARATOR_PIECE = deflate_piece(_SEPARATOR)


class Listing:
    """The listing in one format at one serial: an iterable of body chunks, to be closed.

    Holds a snapshot of the database until closed (a WSGI server closes it after sending).
    """

    def __init__(self, session, fmt: str, gzipped: bool, serial: int, stats, closer):
        self.fmt = fmt
        self.gzipped = gzipped
        self.serial = serial
        self._session = session
        self._closer = closer
        self._nonempty = stats.nonempty
        if fmt == "json":
            head = dump_json({"meta": {"api-version": API_VERSION, "_last-serial": serial}})
            self._head, self._tail = head[:-1] + b',"projects":[', b"]}"
        else:
            self._head = HTML_HEAD.format(title="Simple index").encode()
            self._tail = HTML_TAIL.encode()
        separators = max(self._nonempty - 1, 0) if fmt == "json" else 0
        if gzipped:
            self._head_piece = deflate_piece(self._head)
            self._tail_piece = deflate_piece(self._tail)
            self.content_length = (
                len(_GZIP_HEADER)
                + len(self._head_piece)
                + stats.deflate_bytes
                + separators * len(_SEPARATOR_PIECE)
                + len(self._tail_piece)
                + len(_FINAL_BLOCK)
                + 8
            )
        else:
            self.content_length = len(self._head) + stats.plain_bytes + separators + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from (self._gzip_body() if self.gzipped else self._plain_body())
        finally:
            self.close()

    def _rows(self, columns: str):
        # A server-side cursor in binary: bytea comes as bytes, a few chunks at a time.
        with driver_connection(self._session).cursor(name="root_listing", binary=True) as cursor:
            cursor.execute(
                f"SELECT {columns} FROM root_listing_chunks WHERE projects > 0 ORDER BY lower_bound"
            )
            while rows := cursor.fetchmany(FETCH_CHUNKS):
                yield from rows

    def _plain_body(self) -> Iterator[bytes]:
        yield self._head
        first = True
        for (body,) in self._rows(self.fmt):
            if not first and self.fmt == "json":
                body = _SEPARATOR + body
            first = False
            yield body
        yield self._tail

    def _gzip_body(self) -> Iterator[bytes]:
        yield _GZIP_HEADER + self._head_piece
        crc = zlib.crc32(self._head)
        size = len(self._head)
        first = True
        for piece, piece_crc, piece_size in self._rows(
            f"{self.fmt}_deflate, {self.fmt}_crc, octet_length({self.fmt})"
        ):
            if not first and self.fmt == "json":
                piece = _SEPARATOR_PIECE + piece
                crc = crc32_combine(crc, _SEPARATOR_CRC, 1)
                size += 1
            first = False
            crc = crc32_combine(crc, piece_crc, piece_size)
            size += piece_size
            yield piece
        crc = crc32_combine(crc, zlib.crc32(self._tail), len(self._tail))
        size += len(self._tail)
        yield self._tail_piece + _FINAL_BLOCK + struct.pack("<II", crc, size & 0xFFFFFFFF)

    def close(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            closer.close()


class _Stats:
    def __init__(self, chunks: int, nonempty: int, plain_bytes: int, deflate_bytes: int):
        self.chunks = chunks
        self.nonempty = nonempty
        self.plain_bytes = plain_bytes
        self.deflate_bytes = deflate_bytes


def open_listing(snapshot, fmt: str, gzipped: bool) -> Listing | None:
    """The listing now, in ``fmt`` ("html" or "json"); None if it was never built.

    ``snapshot`` is :meth:`PageCache.snapshot`: the serial and every chunk come from one.
    """
    closer = contextlib.ExitStack()
    session = closer.enter_context(snapshot())
    try:
        serial = journal.last_serial(session)
        stats = _Stats(
            *session.execute(
                sa.text(
                    f"SELECT count(*), count(*) FILTER (WHERE projects > 0),"
                    f" coalesce(sum(octet_length({fmt})) FILTER (WHERE projects > 0), 0),"
                    f" coalesce(sum(octet_length({fmt}_deflate)) FILTER (WHERE projects > 0), 0)"
                    " FROM root_listing_chunks"
                )
            ).one()
        )
        if stats.chunks == 0:
            closer.close()
            return None
        return Listing(session, fmt, gzipped, serial, stats, closer)
    except BaseException:
        closer.close()
        raise


# CRC-32 of joined data from the parts' CRCs ----------------------------------------------------
# Polynomials over GF(2) modulo CRC-32's, in its reflected bit order (bit 31 is x^0): the CRC
# of a + b is crc(a) times x^(8 len(b)), plus crc(b).

_POLY = 0xEDB88320
_ONE = 1 << 31


def _multiply(a: int, b: int) -> int:
    product = 0
    bit = _ONE
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


# x^(2^k) for k = 0..63
_X_POWERS = [1 << 30]
for _ in range(63):
    _X_POWERS.append(_multiply(_X_POWERS[-1], _X_POWERS[-1]))


@functools.lru_cache(maxsize=8192)
def _shift(length: int) -> int:
    """x^(8 length): what appending ``length`` bytes multiplies a CRC by."""
    exponent, result, k = 8 * length, _ONE, 0
    while exponent:
        if exponent & 1:
            result = _multiply(_X_POWERS[k], result)
        exponent >>= 1
        k += 1
    return result


def crc32_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """``zlib.crc32(a + b)`` from ``zlib.crc32(a)``, ``zlib.crc32(b)`` and ``len(b)``."""
    return _multiply(_shift(length_b), crc_a) ^ crc_b


_SEPARATOR_CRC = zlib.crc32(_SEPARATOR)
