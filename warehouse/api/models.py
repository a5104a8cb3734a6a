"""The ``/simple/`` root listing, kept pre-rendered in chunks (see :mod:`warehouse.api.root_listing`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import Model


class RootListingChunk(Model):
    """A run of consecutive listed projects, rendered: the projects whose normalized name is
    at least ``lower_bound`` and below the next chunk's (the first chunk's bound is '')."""

    __tablename__ = "root_listing_chunks"

    lower_bound: orm.Mapped[str] = orm.mapped_column(sa.Text, primary_key=True)
    projects: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    # Each form plain, and as raw DEFLATE ending in a sync flush, so that the chunks of a
    # response join into one gzip stream; the CRC-32 of the plain bytes completes its trailer.
    html: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary)
    html_deflate: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary)
    html_crc: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    json: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary)
    json_deflate: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary)
    json_crc: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
