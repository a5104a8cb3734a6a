"""admin area: flags, the admin log, project reports, quarantine, trusted observers

Revision ID: 0710_admin
Revises: 0700_stats

The log and the reports have no foreign keys on purpose: they outlive the projects and
users they name.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0710_admin"
down_revision = "0700_stats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_flags",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("admin_flags_pkey")),
    )
    op.create_table(
        "admin_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("remote_addr", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("admin_log_pkey")),
    )
    op.create_index(op.f("ix_admin_log_created"), "admin_log", ["created"], unique=False)
    op.create_index(op.f("ix_admin_log_target"), "admin_log", ["target"], unique=False)
    op.create_table(
        "project_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("inspector_url", sa.Text(), nullable=True),
        sa.Column("reporter_id", sa.Uuid(), nullable=True),
        sa.Column("reporter", sa.Text(), nullable=False),
        sa.Column("reporter_trusted", sa.Boolean(), nullable=False),
        sa.Column("via", sa.Text(), nullable=False),
        sa.Column("resolved", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('is_malware', 'is_spam', 'is_dependency_confusion', 'something_else')",
            name=op.f("project_observations_valid_kind_check"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("project_observations_pkey")),
    )
    op.create_index(op.f("ix_project_observations_created"), "project_observations", ["created"])
    op.create_index(
        op.f("ix_project_observations_project_name"), "project_observations", ["project_name"]
    )
    op.add_column(
        "users",
        sa.Column("is_trusted_observer", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("projects", sa.Column("lifecycle_status", sa.Text(), nullable=True))
    op.add_column(
        "projects",
        sa.Column("lifecycle_status_changed", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("projects", sa.Column("lifecycle_status_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("projects", "lifecycle_status_note")
    op.drop_column("projects", "lifecycle_status_changed")
    op.drop_column("projects", "lifecycle_status")
    op.drop_column("users", "is_trusted_observer")
    op.drop_index(op.f("ix_project_observations_project_name"), table_name="project_observations")
    op.drop_index(op.f("ix_project_observations_created"), table_name="project_observations")
    op.drop_table("project_observations")
    op.drop_index(op.f("ix_admin_log_target"), table_name="admin_log")
    op.drop_index(op.f("ix_admin_log_created"), table_name="admin_log")
    op.drop_table("admin_log")
    op.drop_table("admin_flags")
