"""stats_daily_downloads: keys in the "C" collation, room for heap-only updates, a block
range index by day (see warehouse.stats.models.DailyDownloads)

Revision ID: 0760_stats_merge_layout
Revises: 0750_releases_shown_order
"""

from alembic import op

revision = "0760_stats_merge_layout"
down_revision = "0750_releases_shown_order"
branch_labels = None
depends_on = None

_KEYS = ("project", "dimension", "category")


def _collate(collation: str) -> None:
    # One rewrite of the table and its indexes for the three columns.
    op.execute(
        "ALTER TABLE stats_daily_downloads "
        + ", ".join(f'ALTER COLUMN {c} TYPE text COLLATE "{collation}"' for c in _KEYS)
    )


def upgrade() -> None:
    op.drop_index("ix_stats_daily_downloads_day", table_name="stats_daily_downloads")
    op.execute("ALTER TABLE stats_daily_downloads SET (fillfactor = 70)")
    _collate("C")
    op.create_index(
        "ix_stats_daily_downloads_day", "stats_daily_downloads", ["day"], postgresql_using="brin"
    )


def downgrade() -> None:
    op.drop_index("ix_stats_daily_downloads_day", table_name="stats_daily_downloads")
    op.execute("ALTER TABLE stats_daily_downloads RESET (fillfactor)")
    _collate("default")
    op.create_index("ix_stats_daily_downloads_day", "stats_daily_downloads", ["day"])
