"""stats_compacted_shares: which shares of a closed month were rewritten in key order, so
that each is rewritten once, by its own task.

Revision ID: 0780_stats_compacted_shares
Revises: 0770_stats_fillfactor_50
"""

import sqlalchemy as sa
from alembic import op

revision = "0780_stats_compacted_shares"
down_revision = "0770_stats_fillfactor_50"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_compacted_shares",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("share", sa.SmallInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("compacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", "share", name=op.f("stats_compacted_shares_pkey")),
    )


def downgrade() -> None:
    op.drop_table("stats_compacted_shares")
