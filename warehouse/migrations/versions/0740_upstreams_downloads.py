"""upstreams: an upstream's downloads over every project it mirrors

Revision ID: 0740_upstreams_downloads
Revises: 0740_stats_batches
"""

import sqlalchemy as sa
from alembic import op

revision = "0740_upstreams_downloads"
down_revision = "0740_root_listing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_stats_daily_downloads_upstream",
        "stats_daily_downloads",
        ["category", "day"],
        postgresql_where=sa.text("dimension = 'upstream'"),
    )


def downgrade() -> None:
    op.drop_index("ix_stats_daily_downloads_upstream", table_name="stats_daily_downloads")
