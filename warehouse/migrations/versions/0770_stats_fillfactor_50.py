"""stats_daily_downloads: fillfactor 50, so that a batch's update of every row of a page
stays heap-only (see warehouse.stats.models.FILLFACTOR). New pages only: no rewrite.

Revision ID: 0770_stats_fillfactor_50
Revises: 0760_stats_merge_layout
"""

from alembic import op

revision = "0770_stats_fillfactor_50"
down_revision = "0760_stats_merge_layout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE stats_daily_downloads SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE stats_daily_downloads SET (fillfactor = 70)")
