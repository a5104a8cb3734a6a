"""Verification runs of a store, their checkpoints, the problems they found."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import Model, utcnow


class VerifyRun(Model):
    """One pass over a store (``archive`` or ``cache``), split into key ranges."""

    __tablename__ = "storage_verify_runs"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    store: orm.Mapped[str] = orm.mapped_column(sa.Text)
    deep: orm.Mapped[bool] = orm.mapped_column(default=False)
    repair: orm.Mapped[bool] = orm.mapped_column(default=False)
    # Started by the hourly beat task, a slice at a time (not by an operator).
    rolling: orm.Mapped[bool] = orm.mapped_column(default=False)
    # Rows uploaded and blobs written at or after this are left to the next run.
    started_at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    finished_at: orm.Mapped[datetime.datetime | None]
    # Blobs the file rows named when the run began: the denominator of progress and ETA.
    expected_keys: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    # With repair: quarantined orphans older than this are deleted at the end of the run.
    delete_orphans_after_seconds: orm.Mapped[int | None]

    ranges: orm.Mapped[list[VerifyRange]] = orm.relationship(
        back_populates="run", order_by="VerifyRange.lo", cascade="all, delete-orphan"
    )

    __table_args__ = (sa.CheckConstraint("store IN ('archive', 'cache')", name="valid_store"),)


class VerifyRange(Model):
    """Keys ``lo <= key < hi`` (``hi`` NULL: to the end) of a run, and how far it got.

    ``position`` is the last key whose fate is settled; it moves, with the counters, in one
    transaction per page, so a run killed at any moment goes on from its last page and ends
    with the same figures. A worker holds a range through a lease it renews at each page."""

    __tablename__ = "storage_verify_ranges"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    run_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("storage_verify_runs.id", ondelete="CASCADE")
    )
    lo: orm.Mapped[str] = orm.mapped_column(sa.Text)
    hi: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    position: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # Keys settled so far (listed, or named by a row), and those left to the next run
    # because they are newer than the run or went away while it ran.
    keys_done: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    skipped: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    updated_at: orm.Mapped[datetime.datetime | None]
    finished_at: orm.Mapped[datetime.datetime | None]
    lease_owner: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    lease_until: orm.Mapped[datetime.datetime | None]

    run: orm.Mapped[VerifyRun] = orm.relationship(back_populates="ranges")

    __table_args__ = (sa.UniqueConstraint("run_id", "lo"),)


class VerifyProblem(Model):
    """A key of a run that is not ok, and what was done about it (NULL: nothing yet)."""

    __tablename__ = "storage_verify_problems"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    run_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("storage_verify_runs.id", ondelete="CASCADE")
    )
    key: orm.Mapped[str] = orm.mapped_column(sa.Text)
    kind: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # No foreign key: the report outlives the file.
    file_id: orm.Mapped[int | None]
    detail: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    action: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    found_at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("run_id", "key"),)


class UnavailableFile(Model):
    """A file whose blob is gone or corrupt in every store: nothing could repair it."""

    __tablename__ = "unavailable_files"

    file_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("release_files.id", ondelete="CASCADE"), primary_key=True
    )
    since: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    reason: orm.Mapped[str] = orm.mapped_column(sa.Text)
