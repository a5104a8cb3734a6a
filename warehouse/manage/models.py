"""Invitations to collaborate on a project.

A role is only granted when the invitee accepts: nobody is made responsible for a project
(and listed as its maintainer) without agreeing to it.
"""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.db import Model, utcnow
from warehouse.packaging.models import Project


class RoleInvitation(Model):
    __tablename__ = "role_invitations"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    project_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # The invitee.
    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role_name: orm.Mapped[str] = orm.mapped_column(sa.Text)
    invited_by_id: orm.Mapped[uuid.UUID | None] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)

    project: orm.Mapped[Project] = orm.relationship()
    user: orm.Mapped[User] = orm.relationship(foreign_keys=[user_id])
    invited_by: orm.Mapped[User | None] = orm.relationship(foreign_keys=[invited_by_id])

    __table_args__ = (
        sa.UniqueConstraint("project_id", "user_id"),
        sa.CheckConstraint("role_name IN ('Owner', 'Maintainer')", name="valid_role"),
    )
