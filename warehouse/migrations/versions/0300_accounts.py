"""accounts: security events, recovery codes, WebAuthn credentials, prohibited usernames

Revision ID: 0300_accounts
Revises: 0001
Create Date: 2026-11-23 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0300_accounts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS citext")
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("additional", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("events_pkey")),
    )
    op.create_index(
        "ix_events_source_source_id_time", "events", ["source", "source_id", "time"], unique=False
    )
    op.create_table(
        "user_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("generated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("user_recovery_codes_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("user_recovery_codes_pkey")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("user_recovery_codes_user_id_code_hash_key")
        ),
    )
    op.create_index(
        op.f("ix_user_recovery_codes_user_id"), "user_recovery_codes", ["user_id"], unique=False
    )
    op.create_table(
        "user_webauthn_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("credential_id", sa.Text(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("added", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("user_webauthn_credentials_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("user_webauthn_credentials_pkey")),
        sa.UniqueConstraint(
            "credential_id", name=op.f("user_webauthn_credentials_credential_id_key")
        ),
        sa.UniqueConstraint(
            "user_id", "label", name=op.f("user_webauthn_credentials_user_id_label_key")
        ),
    )
    op.create_index(
        op.f("ix_user_webauthn_credentials_user_id"),
        "user_webauthn_credentials",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "prohibited_user_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", postgresql.CITEXT(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("prohibited_user_names_pkey")),
        sa.UniqueConstraint("name", name=op.f("prohibited_user_names_name_key")),
    )


def downgrade() -> None:
    op.drop_table("prohibited_user_names")
    op.drop_index(
        op.f("ix_user_webauthn_credentials_user_id"), table_name="user_webauthn_credentials"
    )
    op.drop_table("user_webauthn_credentials")
    op.drop_index(op.f("ix_user_recovery_codes_user_id"), table_name="user_recovery_codes")
    op.drop_table("user_recovery_codes")
    op.drop_index("ix_events_source_source_id_time", table_name="events")
    op.drop_table("events")
