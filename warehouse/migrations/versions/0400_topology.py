"""topology: which files the cache store holds

Revision ID: 0400_topology
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0400_topology"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No backfill: the cache audit adds a row for every file that has none.
    op.create_table(
        "file_cache_status",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("cached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["release_files.id"],
            name=op.f("file_cache_status_file_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("file_cache_status_pkey")),
    )
    op.create_index(
        "ix_file_cache_status_pending",
        "file_cache_status",
        ["attempts", "file_id"],
        unique=False,
        postgresql_where=sa.text("cached_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_file_cache_status_pending", table_name="file_cache_status")
    op.drop_table("file_cache_status")
