"""search: the project_search table (PostgreSQL full-text search)

Revision ID: 0200_search
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0200_search"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # pg_trgm is created by 0001; repeated here so this revision stands on its own.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "project_search",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("normalized_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("keywords", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("classifiers", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("classifier_prefixes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head", postgresql.TSVECTOR(), nullable=False),
        sa.Column("document", postgresql.TSVECTOR(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("project_search_project_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("project_search_pkey")),
        sa.UniqueConstraint("normalized_name", name=op.f("project_search_normalized_name_key")),
    )
    op.create_index(
        "ix_project_search_document", "project_search", ["document"], postgresql_using="gin"
    )
    op.create_index("ix_project_search_head", "project_search", ["head"], postgresql_using="gin")
    op.create_index(
        "ix_project_search_name_trgm",
        "project_search",
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_project_search_classifier_prefixes",
        "project_search",
        ["classifier_prefixes"],
        postgresql_using="gin",
    )
    op.create_index("ix_project_search_created", "project_search", ["created"])
    # Keep rows narrow, so that filtering and ranking many rows reads few pages: the
    # description and the full document (read through the GIN index, not the row) move out
    # of line; what ranking and filters read stays in the row.
    op.execute(
        """
        ALTER TABLE project_search
            ALTER COLUMN description SET STORAGE EXTERNAL,
            ALTER COLUMN document SET STORAGE EXTERNAL,
            ALTER COLUMN head SET STORAGE MAIN,
            ALTER COLUMN classifier_prefixes SET STORAGE MAIN,
            SET (toast_tuple_target = 512)
        """
    )
    # The table starts empty: on a database that already has projects, run
    # warehouse.search.rebuild_all (``warehouse search reindex``) once.


def downgrade() -> None:
    op.drop_table("project_search")
