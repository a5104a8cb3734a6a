"""What scanning keeps for good: results and their findings, release holds, dismissals, and
the global runs with their checkpoints.

Every row names its project, version, file and digest as text. The ids of the release and file
are kept while those rows exist (``ON DELETE SET NULL``): a deleted project's results, holds
and dismissals stay, so anyone can later measure which verdicts were right (PyPI's old malware
verdicts were deleted with their projects, and nobody ever could).
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import Model, utcnow

# Why a file was scanned.
TRIGGER_UPLOAD = "upload"
TRIGGER_RUN = "run"


class ScanResultRow(Model):
    """One scan of one file: its verdict under one version of the rules."""

    __tablename__ = "scan_results"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    project_name: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)  # normalized
    version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    filename: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    sha256: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    release_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("releases.id", ondelete="SET NULL"), index=True
    )
    file_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("release_files.id", ondelete="SET NULL"), index=True
    )
    # The global run that made it (NULL: the upload's own scan).
    run_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("scan_runs.id", ondelete="SET NULL"), index=True
    )
    trigger: orm.Mapped[str] = orm.mapped_column(sa.Text)
    verdict: orm.Mapped[str] = orm.mapped_column(sa.Text)
    score: orm.Mapped[int]
    rules_version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    seconds: orm.Mapped[float] = orm.mapped_column(sa.Float, default=0.0)
    # Set when the scan did not finish (crash, time or memory limit): never called clean.
    error: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    findings: orm.Mapped[list[ScanFindingRow]] = orm.relationship(
        back_populates="result", order_by="ScanFindingRow.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("verdict IN ('clean', 'suspicious', 'malicious')", name="valid_verdict"),
    )


class ScanFindingRow(Model):
    """One rule matched at one place of a scanned file, with the lines it matched."""

    __tablename__ = "scan_findings"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True)
    result_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("scan_results.id", ondelete="CASCADE"), index=True
    )
    rule: orm.Mapped[str] = orm.mapped_column(sa.Text)
    kind: orm.Mapped[str] = orm.mapped_column(sa.Text)  # capability | threat
    severity: orm.Mapped[str] = orm.mapped_column(sa.Text)
    score: orm.Mapped[int]
    message: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # The archive member ("a.whl!inner/x.py" inside nested archives) and 1-based line.
    member: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    line: orm.Mapped[int | None]
    # A few lines around ``line``, as text (bounded; see warehouse.scanning.scanner).
    excerpt: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    result: orm.Mapped[ScanResultRow] = orm.relationship(back_populates="findings")


class FindingDismissal(Model):
    """An admin's judgement that a finding is not a threat: who, when, why.

    It names the file's digest, the rule and the member, so a later scan of the same file that
    finds the same thing shows it as dismissed too."""

    __tablename__ = "scan_dismissals"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    finding_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("scan_findings.id", ondelete="SET NULL"), index=True
    )
    project_name: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    sha256: orm.Mapped[str] = orm.mapped_column(sa.Text)
    rule: orm.Mapped[str] = orm.mapped_column(sa.Text)
    member: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    dismissed_by: orm.Mapped[str] = orm.mapped_column(sa.Text)
    reason: orm.Mapped[str] = orm.mapped_column(sa.Text)

    __table_args__ = (sa.Index("ix_scan_dismissals_sha256_rule", "sha256", "rule"),)


class ReleaseHold(Model):
    """A release withheld from installers because a scan called one of its files malicious
    (or could not finish in time). Active while ``lifted`` is NULL; kept after that."""

    __tablename__ = "release_holds"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    project_name: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)  # normalized
    version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    release_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("releases.id", ondelete="SET NULL")
    )
    result_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("scan_results.id", ondelete="SET NULL")
    )
    # "malicious": a verdict; "pending": the upload's scan did not finish within its budget.
    reason: orm.Mapped[str] = orm.mapped_column(sa.Text)
    detail: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    lifted: orm.Mapped[datetime.datetime | None]
    lifted_by: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    lift_reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    __table_args__ = (
        sa.CheckConstraint("reason IN ('malicious', 'pending')", name="valid_reason"),
        # At most one active hold per release: what the read paths test.
        sa.Index(
            "release_holds_active_idx",
            "release_id",
            unique=True,
            postgresql_where=sa.text("lifted IS NULL"),
        ),
    )


class ScanRun(Model):
    """A global scan: one task per release, checkpointed in :class:`ScanRunItem`."""

    __tablename__ = "scan_runs"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    started_by: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # "latest", "all-releases" or "changed-rules".
    scope: orm.Mapped[str] = orm.mapped_column(sa.Text)
    since_serial: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    rules_version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # Every item is written before the first task is sent: the denominator of progress.
    planned: orm.Mapped[bool] = orm.mapped_column(default=False)
    total: orm.Mapped[int] = orm.mapped_column(default=0)
    finished: orm.Mapped[datetime.datetime | None]


class ScanRunItem(Model):
    """One release of a run; ``state`` moves in the same transaction as its results."""

    __tablename__ = "scan_run_items"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True)
    run_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("scan_runs.id", ondelete="CASCADE"))
    release_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("releases.id", ondelete="SET NULL")
    )
    project_name: orm.Mapped[str] = orm.mapped_column(sa.Text)
    version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # "pending", "done" (scanned, or gone before its turn) or "failed" (attempts used up).
    state: orm.Mapped[str] = orm.mapped_column(sa.Text, default="pending")
    attempts: orm.Mapped[int] = orm.mapped_column(default=0)
    files: orm.Mapped[int] = orm.mapped_column(default=0)
    worst_verdict: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    error: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    updated: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("run_id", "release_id"),
        sa.Index("ix_scan_run_items_run_id_state", "run_id", "state"),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="valid_state"),
    )
