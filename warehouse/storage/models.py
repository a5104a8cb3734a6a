"""Which files the cache store is known to hold (the archive holds them all)."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import Model


class FileCacheStatus(Model):
    """One row per file that should be in the cache store.

    A row with ``cached_at`` NULL is pending: a worker copies it, holding the row with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` so that no two workers copy the same file. The row
    goes with its file (ON DELETE CASCADE); a file without a row is found by the audit.
    """

    __tablename__ = "file_cache_status"

    file_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("release_files.id", ondelete="CASCADE"), primary_key=True
    )
    # When the copy was last verified (size and MD5) in the cache store; NULL: pending.
    cached_at: orm.Mapped[datetime.datetime | None]
    # Failed copies (bad archive blob, checksum mismatch); reset when the audit re-queues it.
    attempts: orm.Mapped[int] = orm.mapped_column(default=0, server_default="0")
    last_error: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    __table_args__ = (
        # The reconcile task's query: only pending rows, which are few.
        sa.Index(
            "ix_file_cache_status_pending",
            "attempts",
            "file_id",
            postgresql_where=sa.text("cached_at IS NULL"),
        ),
    )
