"""The search index table: one row per project that has at least one release."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from warehouse.db import Model


class ProjectSearch(Model):
    """A denormalized copy of what search looks at, kept by :mod:`warehouse.search.indexing`.

    Written only by that module's SQL, never by hand: ``document`` is computed from the other
    columns there.
    """

    __tablename__ = "project_search"

    project_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: orm.Mapped[str] = orm.mapped_column(sa.Text)
    normalized_name: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    # The version a visitor is shown: non-yanked before yanked, final before pre-release,
    # then the newest.
    version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    summary: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    keywords: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # The start of the description source: enough to find a project by, small enough to
    # rank quickly.
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    classifiers: orm.Mapped[list[str]] = orm.mapped_column(ARRAY(sa.Text))
    # Every classifier and each of its " :: " ancestors, so a prefix filter is a GIN lookup.
    classifier_prefixes: orm.Mapped[list[str]] = orm.mapped_column(ARRAY(sa.Text))
    # When the shown version was uploaded.
    created: orm.Mapped[datetime.datetime]
    # Name (A), summary (B) and keywords (C): small, kept in the row, what ranking reads.
    head: orm.Mapped[str] = orm.mapped_column(TSVECTOR)
    # ``head``, the description (D) and one term per classifier prefix: what matching reads,
    # through its GIN index only.
    document: orm.Mapped[str] = orm.mapped_column(TSVECTOR)

    __table_args__ = (
        sa.Index("ix_project_search_document", "document", postgresql_using="gin"),
        sa.Index("ix_project_search_head", "head", postgresql_using="gin"),
        sa.Index(
            "ix_project_search_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        sa.Index(
            "ix_project_search_classifier_prefixes", "classifier_prefixes", postgresql_using="gin"
        ),
        sa.Index("ix_project_search_created", "created"),
    )
