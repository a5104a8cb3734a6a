"""What the admin area keeps: flags, the admin log, and reports about projects.

The log and the reports name their project and people by text, not by foreign key: they
must outlive what they are about (a deleted project's reports are how anyone can later
measure which reports were right).
"""

from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import JSONB

from warehouse.db import Model, utcnow


class AdminFlag(Model):
    """A switch an operator flips to refuse a kind of write, with the sentence users see."""

    __tablename__ = "admin_flags"

    id: orm.Mapped[str] = orm.mapped_column(sa.Text, primary_key=True)
    enabled: orm.Mapped[bool] = orm.mapped_column(default=False)
    message: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    updated: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    updated_by: orm.Mapped[str | None] = orm.mapped_column(sa.Text)


class AdminLogEntry(Model):
    """One admin action: who, when, from where, on what, and what changed."""

    __tablename__ = "admin_log"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    # The admin's username at the time ("(system)" for automatic actions).
    actor: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # "web", "cli" or "auto"; and the client address for the web.
    source: orm.Mapped[str] = orm.mapped_column(sa.Text)
    remote_addr: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    action: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # "project", "user", "flag", "prohibited-name", "observation"; and its name.
    target_kind: orm.Mapped[str] = orm.mapped_column(sa.Text)
    target: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    details: orm.Mapped[dict] = orm.mapped_column(JSONB, default=dict)


class ObservationKind(enum.StrEnum):
    is_malware = "is_malware"
    is_spam = "is_spam"
    is_dependency_confusion = "is_dependency_confusion"
    something_else = "something_else"


OBSERVATION_LABELS = {
    ObservationKind.is_malware: "Malware",
    ObservationKind.is_spam: "Spam",
    ObservationKind.is_dependency_confusion: "Dependency confusion",
    ObservationKind.something_else: "Something else",
}


class Observation(Model):
    """A report that something is wrong with a project, from a person or an API client."""

    __tablename__ = "project_observations"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    # The project's normalized name; its id while it exists (no foreign key: see above).
    project_name: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    project_id: orm.Mapped[int | None]
    kind: orm.Mapped[str] = orm.mapped_column(sa.Text)
    summary: orm.Mapped[str] = orm.mapped_column(sa.Text)
    inspector_url: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    reporter_id: orm.Mapped[uuid.UUID | None]
    reporter: orm.Mapped[str] = orm.mapped_column(sa.Text)
    reporter_trusted: orm.Mapped[bool] = orm.mapped_column(default=False)
    # "web" or "api".
    via: orm.Mapped[str] = orm.mapped_column(sa.Text)
    resolved: orm.Mapped[datetime.datetime | None]
    resolved_by: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    resolution: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('is_malware', 'is_spam', 'is_dependency_confusion', 'something_else')",
            name="valid_kind",
        ),
    )
