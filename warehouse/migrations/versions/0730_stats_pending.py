"""download statistics: pending counts, folded into the daily aggregates in batches

Revision ID: 0730_stats_pending
Revises: 0720_storage_verify
"""

import sqlalchemy as sa
from alembic import op

revision = "0730_stats_pending"
down_revision = "0720_storage_verify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_pending_downloads",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("dimension", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("mirror", sa.Boolean(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stats_pending_downloads")
