"""download statistics: daily aggregates, counted log objects, malformed lines

Revision ID: 0700_stats
Revises: 0600_invitations
"""

import sqlalchemy as sa
from alembic import op

revision = "0700_stats"
down_revision = "0600_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_daily_downloads",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("dimension", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("mirror", sa.Boolean(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project",
            "dimension",
            "day",
            "category",
            "mirror",
            name=op.f("stats_daily_downloads_pkey"),
        ),
    )
    op.create_index("ix_stats_daily_downloads_day", "stats_daily_downloads", ["day"])
    op.create_table(
        "stats_counted_logs",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("ignored", sa.BigInteger(), nullable=False),
        sa.Column("index_pages", sa.BigInteger(), nullable=False),
        sa.Column("malformed", sa.BigInteger(), nullable=False),
        sa.Column("first_event", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counted_from", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("stats_counted_logs_pkey")),
    )
    op.create_index(op.f("ix_stats_counted_logs_counted_at"), "stats_counted_logs", ["counted_at"])
    op.create_index(op.f("ix_stats_counted_logs_last_event"), "stats_counted_logs", ["last_event"])
    op.create_table(
        "stats_malformed_lines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("log_key", sa.Text(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("stats_malformed_lines_pkey")),
    )
    op.create_index(op.f("ix_stats_malformed_lines_log_key"), "stats_malformed_lines", ["log_key"])


def downgrade() -> None:
    op.drop_table("stats_malformed_lines")
    op.drop_table("stats_counted_logs")
    op.drop_table("stats_daily_downloads")
