"""indexes for the feeds: newest releases and projects, journal by time

Revision ID: 0100_mirroring
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000

The RSS feeds read the 40 newest releases and projects, and XML-RPC ``changelog(since)``
reads the journal from a point in time; without these indexes each is a full scan.
"""

from alembic import op

revision = "0100_mirroring"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_releases_created"), "releases", ["created"], unique=False)
    op.create_index(op.f("ix_projects_created"), "projects", ["created"], unique=False)
    op.create_index(
        op.f("ix_journals_submitted_date"), "journals", ["submitted_date"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_journals_submitted_date"), table_name="journals")
    op.drop_index(op.f("ix_projects_created"), table_name="projects")
    op.drop_index(op.f("ix_releases_created"), table_name="releases")
