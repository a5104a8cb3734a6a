"""upstream indexes: upstreams, allowances, mirrored projects and files, the sync queue

Revision ID: 0730_upstreams
Revises: 0720_storage_verify
"""

import sqlalchemy as sa
from alembic import op

revision = "0730_upstreams"
down_revision = "0730_scanning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstreams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("page_ttl", sa.Integer(), nullable=False),
        sa.Column("bandersnatch_config", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("has_serials", sa.Boolean(), nullable=True),
        sa.Column("last_serial", sa.BigInteger(), nullable=False),
        sa.Column("target_serial", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("state_detail", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sync_started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_finished", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "policy IN ('on_demand', 'immediate', 'streamed')",
            name=op.f("upstreams_valid_policy_check"),
        ),
        sa.CheckConstraint("page_ttl >= 0", name=op.f("upstreams_valid_page_ttl_check")),
        sa.PrimaryKeyConstraint("id", name=op.f("upstreams_pkey")),
        sa.UniqueConstraint("name", name=op.f("upstreams_name_key")),
    )
    op.create_table(
        "upstream_allowances",
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["upstreams.id"],
            name=op.f("upstream_allowances_upstream_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "upstream_id", "normalized_name", name=op.f("upstream_allowances_pkey")
        ),
    )
    op.create_table(
        "upstream_projects",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("upstream_projects_project_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["upstreams.id"],
            name=op.f("upstream_projects_upstream_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("upstream_projects_pkey")),
    )
    op.create_index(op.f("ix_upstream_projects_upstream_id"), "upstream_projects", ["upstream_id"])
    op.create_index(op.f("ix_upstream_projects_fetched_at"), "upstream_projects", ["fetched_at"])
    op.create_table(
        "upstream_files",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("metadata_url", sa.Text(), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["release_files.id"],
            name=op.f("upstream_files_file_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["upstreams.id"],
            name=op.f("upstream_files_upstream_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("upstream_files_pkey")),
        sa.UniqueConstraint("path", name=op.f("upstream_files_path_key")),
    )
    op.create_index(op.f("ix_upstream_files_upstream_id"), "upstream_files", ["upstream_id"])
    op.create_table(
        "upstream_queue",
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.Text(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["upstreams.id"],
            name=op.f("upstream_queue_upstream_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upstream_id", "normalized_name", name=op.f("upstream_queue_pkey")),
    )
    # A mirrored file's BLAKE2 digest is unknown until it is fetched when the upstream gives
    # only SHA-256 (a plain PEP 503 folder).
    op.drop_constraint(op.f("release_files_valid_blake2_256_check"), "release_files", type_="check")
    op.create_check_constraint(
        "valid_blake2_256",
        "release_files",
        "blake2_256_digest = '' OR blake2_256_digest ~* '^[a-f0-9]{64}$'",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("release_files_valid_blake2_256_check"), "release_files", type_="check")
    op.create_check_constraint(
        "valid_blake2_256", "release_files", "blake2_256_digest ~* '^[a-f0-9]{64}$'"
    )
    op.drop_table("upstream_queue")
    op.drop_index(op.f("ix_upstream_files_upstream_id"), table_name="upstream_files")
    op.drop_table("upstream_files")
    op.drop_index(op.f("ix_upstream_projects_fetched_at"), table_name="upstream_projects")
    op.drop_index(op.f("ix_upstream_projects_upstream_id"), table_name="upstream_projects")
    op.drop_table("upstream_projects")
    op.drop_table("upstream_allowances")
    op.drop_table("upstreams")
