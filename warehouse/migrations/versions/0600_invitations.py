"""invitations to collaborate on a project

Revision ID: 0600_invitations
Revises: 0500_merge
"""

import sqlalchemy as sa
from alembic import op

revision = "0600_invitations"
down_revision = "0500_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "role_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role_name", sa.Text(), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role_name IN ('Owner', 'Maintainer')", name=op.f("role_invitations_valid_role_check")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("role_invitations_project_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("role_invitations_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("role_invitations_invited_by_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("role_invitations_pkey")),
        sa.UniqueConstraint(
            "project_id", "user_id", name=op.f("role_invitations_project_id_user_id_key")
        ),
    )
    op.create_index(
        op.f("ix_role_invitations_project_id"), "role_invitations", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_role_invitations_user_id"), "role_invitations", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_role_invitations_user_id"), table_name="role_invitations")
    op.drop_index(op.f("ix_role_invitations_project_id"), table_name="role_invitations")
    op.drop_table("role_invitations")
