"""package scanning: results, findings, release holds, dismissals, global runs

Revision ID: 0730_scanning
Revises: 0720_storage_verify

Nothing here cascades from a project, release or file: rows name them as text and keep their
ids only while they exist (ON DELETE SET NULL), so verdicts outlive what they judged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0730_scanning"
down_revision = "0730_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("since_serial", sa.BigInteger(), nullable=True),
        sa.Column("rules_version", sa.Text(), nullable=False),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("scan_runs_pkey")),
    )
    op.create_table(
        "scan_results",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("rules_version", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "verdict IN ('clean', 'suspicious', 'malicious')",
            name=op.f("scan_results_valid_verdict_check"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["release_files.id"],
            name=op.f("scan_results_file_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("scan_results_release_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["scan_runs.id"], name=op.f("scan_results_run_id_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("scan_results_pkey")),
    )
    for column in ("created", "project_name", "filename", "sha256", "release_id", "file_id"):
        op.create_index(op.f(f"ix_scan_results_{column}"), "scan_results", [column])
    op.create_index(op.f("ix_scan_results_run_id"), "scan_results", ["run_id"])
    op.create_table(
        "scan_findings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("result_id", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["scan_results.id"],
            name=op.f("scan_findings_result_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("scan_findings_pkey")),
    )
    op.create_index(op.f("ix_scan_findings_result_id"), "scan_findings", ["result_id"])
    op.create_table(
        "scan_dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finding_id", sa.BigInteger(), nullable=True),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=True),
        sa.Column("dismissed_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["scan_findings.id"],
            name=op.f("scan_dismissals_finding_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("scan_dismissals_pkey")),
    )
    op.create_index(op.f("ix_scan_dismissals_finding_id"), "scan_dismissals", ["finding_id"])
    op.create_index(op.f("ix_scan_dismissals_project_name"), "scan_dismissals", ["project_name"])
    op.create_index("ix_scan_dismissals_sha256_rule", "scan_dismissals", ["sha256", "rule"])
    op.create_table(
        "release_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("result_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("lifted", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.Text(), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "reason IN ('malicious', 'pending')", name=op.f("release_holds_valid_reason_check")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("release_holds_release_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["scan_results.id"],
            name=op.f("release_holds_result_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("release_holds_pkey")),
    )
    op.create_index(op.f("ix_release_holds_created"), "release_holds", ["created"])
    op.create_index(op.f("ix_release_holds_project_name"), "release_holds", ["project_name"])
    op.create_index(
        "release_holds_active_idx",
        "release_holds",
        ["release_id"],
        unique=True,
        postgresql_where=sa.text("lifted IS NULL"),
    )
    op.create_table(
        "scan_run_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("worst_verdict", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'done', 'failed')", name=op.f("scan_run_items_valid_state_check")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("scan_run_items_release_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_runs.id"],
            name=op.f("scan_run_items_run_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("scan_run_items_pkey")),
        sa.UniqueConstraint(
            "run_id", "release_id", name=op.f("scan_run_items_run_id_release_id_key")
        ),
    )
    op.create_index("ix_scan_run_items_run_id_state", "scan_run_items", ["run_id", "state"])


def downgrade() -> None:
    op.drop_table("scan_run_items")
    op.drop_table("release_holds")
    op.drop_table("scan_dismissals")
    op.drop_table("scan_findings")
    op.drop_table("scan_results")
    op.drop_table("scan_runs")
