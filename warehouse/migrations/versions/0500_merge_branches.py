"""Join the branches written side by side: mirroring, search, accounts, topology.

Revision ID: 0500_merge
Revises: 0100_mirroring, 0200_search, 0300_accounts, 0400_topology
"""

revision = "0500_merge"
down_revision = ("0100_mirroring", "0200_search", "0300_accounts", "0400_topology")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
