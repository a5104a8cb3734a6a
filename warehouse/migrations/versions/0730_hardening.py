"""hardening: one sdist per release held by the database; a cheap largest upload limit;
API token scopes and macaroon keys

Revision ID: 0730_hardening
Revises: 0720_storage_verify

The sdist rule was the application's alone, and two concurrent uploads could both pass it.
An index that existing duplicates would violate cannot be made: the migration then stops
and names them, for an operator to decide which file goes.

Tokens made before scopes keep NULL scopes (upload and manage, as they always could) and no
macaroon salt (they are verified as before).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0730_hardening"
down_revision = "0730_stats_pending"
branch_labels = None
depends_on = None

_DUPLICATE_SDISTS = sa.text(
    """
SELECT p.name, r.version, string_agg(f.filename, ', ' ORDER BY f.id) AS filenames
FROM release_files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id
WHERE f.packagetype = 'sdist'
GROUP BY p.name, r.version HAVING count(*) > 1
"""
)


def upgrade() -> None:
    duplicates = op.get_bind().execute(_DUPLICATE_SDISTS).all()
    if duplicates:
        listed = "; ".join(f"{name} {version}: {files}" for name, version, files in duplicates)
        raise RuntimeError(
            "These releases have more than one sdist; delete all but one of each and "
            f"migrate again: {listed}"
        )
    op.create_index(
        "release_files_one_sdist_per_release_idx",
        "release_files",
        ["release_id"],
        unique=True,
        postgresql_where=sa.text("packagetype = 'sdist'"),
    )
    op.add_column("api_tokens", sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=True))
    op.add_column("api_tokens", sa.Column("macaroon_salt", sa.LargeBinary(32), nullable=True))
    op.create_index(
        "projects_upload_limit_idx",
        "projects",
        ["upload_limit"],
        postgresql_where=sa.text("upload_limit IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_column("api_tokens", "macaroon_salt")
    op.drop_column("api_tokens", "scopes")
    op.drop_index("projects_upload_limit_idx", table_name="projects")
    op.drop_index("release_files_one_sdist_per_release_idx", table_name="release_files")
