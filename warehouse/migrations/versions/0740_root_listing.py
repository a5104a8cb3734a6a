"""the /simple/ root listing, pre-rendered in chunks

Revision ID: 0740_root_listing
Revises: 0730_upstreams

The table starts empty: the first commit after the upgrade that writes a journal entry builds
it whole (warehouse.api.root_listing); until then /simple/ is rendered whole, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0740_root_listing"
down_revision = "0740_stats_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "root_listing_chunks",
        sa.Column("lower_bound", sa.Text(), nullable=False),
        sa.Column("projects", sa.Integer(), nullable=False),
        sa.Column("html", sa.LargeBinary(), nullable=False),
        sa.Column("html_deflate", sa.LargeBinary(), nullable=False),
        sa.Column("html_crc", sa.BigInteger(), nullable=False),
        sa.Column("json", sa.LargeBinary(), nullable=False),
        sa.Column("json_deflate", sa.LargeBinary(), nullable=False),
        sa.Column("json_crc", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lower_bound", name=op.f("root_listing_chunks_pkey")),
    )


def downgrade() -> None:
    op.drop_table("root_listing_chunks")
