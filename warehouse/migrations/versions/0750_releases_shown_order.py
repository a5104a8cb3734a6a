"""releases: an index in the order that picks the release a project shows

Revision ID: 0750_releases_shown_order
Revises: 0740_upstreams_downloads
"""

import sqlalchemy as sa
from alembic import op

revision = "0750_releases_shown_order"
down_revision = "0740_upstreams_downloads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "releases_shown_order_idx",
        "releases",
        ["project_id", "yanked", "is_prerelease", sa.text("sort_order DESC")],
    )


def downgrade() -> None:
    op.drop_index("releases_shown_order_idx", table_name="releases")
