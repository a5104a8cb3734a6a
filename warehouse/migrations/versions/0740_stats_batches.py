"""download statistics: batches write the aggregates directly; no pending table

Revision ID: 0740_stats_batches
Revises: 0730_upstreams
"""

import sqlalchemy as sa
from alembic import op

revision = "0740_stats_batches"
down_revision = "0730_upstreams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Counts still pending were counted (their objects are in stats_counted_logs): they are
    # added to the aggregates before the table goes.
    op.execute(
        """
        INSERT INTO stats_daily_downloads AS d
            (project, dimension, day, category, mirror, downloads)
        SELECT project, dimension, day, category, mirror, sum(downloads)
        FROM stats_pending_downloads
        GROUP BY project, dimension, day, category, mirror
        ON CONFLICT (project, dimension, day, category, mirror)
        DO UPDATE SET downloads = d.downloads + EXCLUDED.downloads
        """
    )
    op.drop_table("stats_pending_downloads")


def downgrade() -> None:
    op.create_table(
        "stats_pending_downloads",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("dimension", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("mirror", sa.Boolean(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
    )
