"""Upstreams, the names admins allow from them, where mirrored rows come from, sync checkpoints."""

from __future__ import annotations

import datetime
import enum

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import Model, utcnow


class Policy(enum.StrEnum):
    # Metadata only; a file is fetched on its first request and kept.
    on_demand = "on_demand"
    # Every file that passes the filters is fetched at sync time.
    immediate = "immediate"
    # Metadata only; files are passed through from the upstream and never kept.
    streamed = "streamed"


class Upstream(Model):
    __tablename__ = "upstreams"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    # The simple index's root, ending in "/" (https://pypi.org/simple/).
    url: orm.Mapped[str] = orm.mapped_column(sa.Text)
    policy: orm.Mapped[str] = orm.mapped_column(sa.Text, default=Policy.on_demand.value)
    # How long a project page of an upstream without serials is trusted before refetching.
    page_ttl: orm.Mapped[int] = orm.mapped_column(default=1800)
    # The text of an unmodified bandersnatch configuration (its [plugins] and plugin sections).
    bandersnatch_config: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    username: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # Fernet token of the password (key derived from settings; see warehouse.upstreams.secrets).
    password_encrypted: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # None: not known yet; True: the upstream numbers its changes (incremental sync).
    has_serials: orm.Mapped[bool | None]
    # The upstream serial this index has fully mirrored, and the one the current pass aims at.
    last_serial: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    target_serial: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    # "idle", "syncing", "failed"
    state: orm.Mapped[str] = orm.mapped_column(sa.Text, default="idle")
    state_detail: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    last_sync_started: orm.Mapped[datetime.datetime | None]
    last_sync_finished: orm.Mapped[datetime.datetime | None]

    __table_args__ = (
        sa.CheckConstraint("policy IN ('on_demand', 'immediate', 'streamed')", name="valid_policy"),
        sa.CheckConstraint("page_ttl >= 0", name="valid_page_ttl"),
    )

    @property
    def stores_files(self) -> bool:
        return self.policy != Policy.streamed.value

    def __repr__(self) -> str:
        return f"<Upstream {self.name}>"


class UpstreamAllowance(Model):
    """A name an admin allows from an upstream although it is (or may become) local too."""

    __tablename__ = "upstream_allowances"

    upstream_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("upstreams.id", ondelete="CASCADE"), primary_key=True
    )
    normalized_name: orm.Mapped[str] = orm.mapped_column(sa.Text, primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    created_by: orm.Mapped[str | None] = orm.mapped_column(sa.Text)


class UpstreamProject(Model):
    """A project here that mirrors an upstream's project (a side table: the read path
    never joins it)."""

    __tablename__ = "upstream_projects"

    project_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    upstream_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("upstreams.id", ondelete="CASCADE"), index=True
    )
    # The upstream serial of the page last applied (0 for an upstream without serials).
    serial: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    fetched_at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    # The project also has files uploaded here (an allowance let both in).
    shared: orm.Mapped[bool] = orm.mapped_column(default=False)


class UpstreamFile(Model):
    """A file row mirrored from an upstream: where to fetch it, and whether it is stored."""

    __tablename__ = "upstream_files"

    file_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("release_files.id", ondelete="CASCADE"), primary_key=True
    )
    upstream_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("upstreams.id", ondelete="CASCADE"), index=True
    )
    # The file's storage key here (release_files.path), looked up on a download miss.
    path: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    url: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # The upstream's PEP 658 metadata URL, when it has one.
    metadata_url: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    stored_at: orm.Mapped[datetime.datetime | None]


class UpstreamQueueItem(Model):
    """A project of an upstream still to sync in the current pass: the checkpoint.

    A row goes away in the same transaction that applies the project, so a pass killed at any
    moment resumes with exactly the projects it had not applied."""

    __tablename__ = "upstream_queue"

    upstream_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("upstreams.id", ondelete="CASCADE"), primary_key=True
    )
    normalized_name: orm.Mapped[str] = orm.mapped_column(sa.Text, primary_key=True)
    # The upstream serial the project's page must reach (older pages are stale).
    serial: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    queued_at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    attempted_at: orm.Mapped[datetime.datetime | None]
    attempts: orm.Mapped[int] = orm.mapped_column(default=0)
    last_error: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")


def awaiting_fetch(file_id_column):
    """SQL: the file is mirrored from an upstream and not fetched yet, so no store holds it
    and none should (audits, verification and ``warehouse check`` leave it out)."""
    return file_id_column.in_(
        sa.select(UpstreamFile.file_id).where(UpstreamFile.stored_at.is_(None))
    )
