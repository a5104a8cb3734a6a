"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 11:57:26.150700
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS citext")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "file_registry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("file_registry_pkey")),
        sa.UniqueConstraint("filename", name=op.f("file_registry_filename_key")),
    )
    op.create_table(
        "journals",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("submitted_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("journals_pkey")),
    )
    op.create_index(op.f("ix_journals_name"), "journals", ["name"], unique=False)
    op.create_table(
        "prohibited_project_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("prohibited_project_names_pkey")),
        sa.UniqueConstraint("name", name=op.f("prohibited_project_names_name_key")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("normalized_name", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_serial", sa.BigInteger(), nullable=False),
        sa.Column("upload_limit", sa.BigInteger(), nullable=True),
        sa.Column("total_size_limit", sa.BigInteger(), nullable=True),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "name ~* '^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$'",
            name=op.f("projects_valid_name_check"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("projects_pkey")),
        sa.UniqueConstraint("normalized_name", name=op.f("projects_normalized_name_key")),
    )
    op.create_table(
        "trove_classifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classifier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("trove_classifiers_pkey")),
        sa.UniqueConstraint("classifier", name=op.f("trove_classifiers_classifier_key")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", postgresql.CITEXT(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("date_joined", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "username ~* '^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$'",
            name=op.f("users_valid_username_check"),
        ),
        sa.CheckConstraint("length(username) <= 50", name=op.f("users_username_length_check")),
        sa.PrimaryKeyConstraint("id", name=op.f("users_pkey")),
        sa.UniqueConstraint("username", name=op.f("users_username_key")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("projects", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("api_tokens_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("api_tokens_pkey")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("canonical_version", sa.Text(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_prerelease", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=False),
        sa.Column("metadata_version", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("description_content_type", sa.Text(), nullable=True),
        sa.Column("description_html", sa.Text(), nullable=True),
        sa.Column("keywords", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("author_email", sa.Text(), nullable=True),
        sa.Column("maintainer", sa.Text(), nullable=True),
        sa.Column("maintainer_email", sa.Text(), nullable=True),
        sa.Column("license", sa.Text(), nullable=True),
        sa.Column("license_expression", sa.Text(), nullable=True),
        sa.Column("license_files", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("home_page", sa.Text(), nullable=True),
        sa.Column("download_url", sa.Text(), nullable=True),
        sa.Column("requires_python", sa.Text(), nullable=True),
        sa.Column("platform", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("supported_platform", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("provides_extra", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("dynamic", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("uploader_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("releases_project_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["users.id"],
            name=op.f("releases_uploader_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("releases_pkey")),
        sa.UniqueConstraint(
            "project_id",
            "canonical_version",
            name=op.f("releases_project_id_canonical_version_key"),
        ),
        sa.UniqueConstraint("project_id", "version", name=op.f("releases_project_id_version_key")),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("role_name", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "role_name IN ('Owner', 'Maintainer')", name=op.f("roles_valid_role_check")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("roles_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("roles_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("roles_pkey")),
        sa.UniqueConstraint("user_id", "project_id", name=op.f("roles_user_id_project_id_key")),
    )
    op.create_index(op.f("ix_roles_project_id"), "roles", ["project_id"], unique=False)
    op.create_index(op.f("ix_roles_user_id"), "roles", ["user_id"], unique=False)
    op.create_table(
        "user_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", postgresql.CITEXT(), nullable=False),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("user_emails_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("user_emails_pkey")),
        sa.UniqueConstraint("email", name=op.f("user_emails_email_key")),
    )
    op.create_index(op.f("ix_user_emails_user_id"), "user_emails", ["user_id"], unique=False)
    op.create_table(
        "release_classifiers",
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("trove_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("release_classifiers_release_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trove_id"], ["trove_classifiers.id"], name=op.f("release_classifiers_trove_id_fkey")
        ),
        sa.PrimaryKeyConstraint("release_id", "trove_id", name=op.f("release_classifiers_pkey")),
    )
    op.create_index(
        op.f("ix_release_classifiers_trove_id"), "release_classifiers", ["trove_id"], unique=False
    )
    op.create_table(
        "release_dependencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("specifier", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("release_dependencies_release_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("release_dependencies_pkey")),
    )
    op.create_index(
        op.f("ix_release_dependencies_release_id"),
        "release_dependencies",
        ["release_id"],
        unique=False,
    )
    op.create_table(
        "release_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("packagetype", sa.Text(), nullable=False),
        sa.Column("python_version", sa.Text(), nullable=False),
        sa.Column("requires_python", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5_digest", sa.Text(), nullable=False),
        sa.Column("sha256_digest", sa.Text(), nullable=False),
        sa.Column("blake2_256_digest", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("upload_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_via", sa.Text(), nullable=True),
        sa.Column("metadata_sha256", sa.Text(), nullable=True),
        sa.Column("metadata_blake2_256", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "blake2_256_digest ~* '^[a-f0-9]{64}$'",
            name=op.f("release_files_valid_blake2_256_check"),
        ),
        sa.CheckConstraint(
            "sha256_digest ~* '^[a-f0-9]{64}$'", name=op.f("release_files_valid_sha256_check")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("release_files_release_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("release_files_pkey")),
        sa.UniqueConstraint("filename", name=op.f("release_files_filename_key")),
        sa.UniqueConstraint("path", name=op.f("release_files_path_key")),
    )
    op.create_index(
        op.f("ix_release_files_release_id"), "release_files", ["release_id"], unique=False
    )
    op.create_index(
        op.f("ix_release_files_sha256_digest"), "release_files", ["sha256_digest"], unique=False
    )
    op.create_table(
        "release_urls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("release_urls_release_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("release_urls_pkey")),
    )
    op.create_index(
        op.f("ix_release_urls_release_id"), "release_urls", ["release_id"], unique=False
    )
    # Confusable names collide under this key (see packaging.services.ultranormalize_name).
    op.execute(
        "CREATE INDEX projects_ultranormalized_name_idx ON projects "
        "(regexp_replace(translate(lower(name), 'oli', '011'), '[._-]', '', 'g'))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS projects_ultranormalized_name_idx")
    op.drop_index(op.f("ix_release_urls_release_id"), table_name="release_urls")
    op.drop_table("release_urls")
    op.drop_index(op.f("ix_release_files_sha256_digest"), table_name="release_files")
    op.drop_index(op.f("ix_release_files_release_id"), table_name="release_files")
    op.drop_table("release_files")
    op.drop_index(op.f("ix_release_dependencies_release_id"), table_name="release_dependencies")
    op.drop_table("release_dependencies")
    op.drop_index(op.f("ix_release_classifiers_trove_id"), table_name="release_classifiers")
    op.drop_table("release_classifiers")
    op.drop_index(op.f("ix_user_emails_user_id"), table_name="user_emails")
    op.drop_table("user_emails")
    op.drop_index(op.f("ix_roles_user_id"), table_name="roles")
    op.drop_index(op.f("ix_roles_project_id"), table_name="roles")
    op.drop_table("roles")
    op.drop_table("releases")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("trove_classifiers")
    op.drop_table("projects")
    op.drop_table("prohibited_project_names")
    op.drop_index(op.f("ix_journals_name"), table_name="journals")
    op.drop_table("journals")
    op.drop_table("file_registry")
