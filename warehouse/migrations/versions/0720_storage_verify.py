"""storage verification runs

Revision ID: 0720_storage_verify
Revises: 0710_admin
"""

import sqlalchemy as sa
from alembic import op

revision = "0720_storage_verify"
down_revision = "0710_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_verify_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store", sa.Text(), nullable=False),
        sa.Column("deep", sa.Boolean(), nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("rolling", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_keys", sa.BigInteger(), nullable=False),
        sa.Column("delete_orphans_after_seconds", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "store IN ('archive', 'cache')", name=op.f("storage_verify_runs_valid_store_check")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("storage_verify_runs_pkey")),
    )
    op.create_table(
        "storage_verify_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["storage_verify_runs.id"],
            name=op.f("storage_verify_problems_run_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("storage_verify_problems_pkey")),
        sa.UniqueConstraint("run_id", "key", name=op.f("storage_verify_problems_run_id_key_key")),
    )
    op.create_table(
        "storage_verify_ranges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("lo", sa.Text(), nullable=False),
        sa.Column("hi", sa.Text(), nullable=True),
        sa.Column("position", sa.Text(), nullable=True),
        sa.Column("keys_done", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["storage_verify_runs.id"],
            name=op.f("storage_verify_ranges_run_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("storage_verify_ranges_pkey")),
        sa.UniqueConstraint("run_id", "lo", name=op.f("storage_verify_ranges_run_id_lo_key")),
    )
    op.create_table(
        "unavailable_files",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["release_files.id"],
            name=op.f("unavailable_files_file_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("unavailable_files_pkey")),
    )


def downgrade() -> None:
    op.drop_table("unavailable_files")
    op.drop_table("storage_verify_ranges")
    op.drop_table("storage_verify_problems")
    op.drop_table("storage_verify_runs")
