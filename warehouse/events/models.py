"""Security and audit events: one row per thing that happened to a user or a project.

Rows name their source by kind and id rather than by foreign key, so that the history of a
deleted account or project outlives it (an audit trail that disappears with its subject is
no audit trail).
"""

from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import JSONB

from warehouse.db import Model, utcnow


class EventSource(enum.StrEnum):
    user = "user"
    project = "project"


class Event(Model):
    __tablename__ = "events"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    # What the event is about: ("user", str(user.id)) or ("project", str(project.id)).
    source: orm.Mapped[str] = orm.mapped_column(sa.Text)
    source_id: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # "<area>:<object>:<action>", e.g. "account:login:success"; see warehouse.events.tags.
    tag: orm.Mapped[str] = orm.mapped_column(sa.Text)
    time: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    # Who did it (None: nobody logged in, e.g. a failed login) and from where.
    actor_id: orm.Mapped[uuid.UUID | None]
    actor: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    ip: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    user_agent: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    additional: orm.Mapped[dict] = orm.mapped_column(JSONB, default=dict)

    __table_args__ = (sa.Index("ix_events_source_source_id_time", "source", "source_id", "time"),)

    def __repr__(self) -> str:
        return f"<Event {self.source}:{self.source_id} {self.tag}>"
