"""What scanning does with the database: record results, hold what is malicious, and the
admins' actions (give a release back, dismiss a finding) and views of it all.

Nothing here knows about requests: callers pass a session, a :class:`Mailer` and an
:class:`~warehouse.admin.services.Actor`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy import orm

from warehouse.admin.services import Actor, AdminError, Mailer, log_action, owners_of
from warehouse.db import utcnow
from warehouse.packaging.models import File, Project, Release
from warehouse.scanning import holds, metrics
from warehouse.scanning.findings import SEVERITIES, ScanResult
from warehouse.scanning.models import (
    TRIGGER_UPLOAD,
    FindingDismissal,
    ReleaseHold,
    ScanFindingRow,
    ScanResultRow,
)
from warehouse.scanning.scanner import ScanTimeout, scan_file
from warehouse.settings import Settings

log = structlog.get_logger(__name__)

SCANNER_ACTOR = "(scanner)"
HELD_TEMPLATE = "release-held"
_MEDIUM = SEVERITIES.index("medium")


@dataclasses.dataclass(frozen=True)
class ScannedFile:
    """A file as its results name it: as text, so results outlive the rows."""

    project_name: str  # normalized
    version: str
    filename: str
    sha256: str
    release_id: int | None
    file_id: int | None

    @classmethod
    def of(cls, project: Project, release: Release, file: File) -> ScannedFile:
        return cls(
            project.normalized_name,
            release.version,
            file.filename,
            file.sha256_digest,
            release.id,
            file.id,
        )


def record_result(
    session: orm.Session,
    target: ScannedFile,
    result: ScanResult,
    trigger: str,
    run_id: int | None = None,
) -> ScanResultRow:
    row = ScanResultRow(
        created=utcnow(),
        project_name=target.project_name,
        version=target.version,
        filename=target.filename,
        sha256=target.sha256,
        release_id=target.release_id,
        file_id=target.file_id,
        run_id=run_id,
        trigger=trigger,
        verdict=result.verdict,
        score=result.score,
        rules_version=result.rules_version,
        seconds=result.seconds,
        error=result.error,
        findings=[
            ScanFindingRow(
                rule=f.rule,
                kind=f.kind,
                severity=f.severity,
                score=f.score,
                message=f.message,
                member=f.location.member,
                line=f.location.line,
                excerpt=f.excerpt,
            )
            for f in result.findings
        ],
    )
    session.add(row)
    session.flush()
    metrics.observe(trigger, result.verdict, result.seconds)
    return row


def why_malicious(result: ScanResult) -> str:
    """One line naming what made the verdict (what owners and admins are told first)."""
    worst = sorted(
        result.findings, key=lambda f: (SEVERITIES.index(f.severity), f.score), reverse=True
    )[:3]
    parts = []
    for finding in worst:
        where = finding.location.member or result.file.rsplit("/", 1)[-1]
        if finding.location.line:
            where += f":{finding.location.line}"
        parts.append(f"{finding.rule} in {where}")
    return "; ".join(parts)


def mail_owners_about_hold(
    session: orm.Session, project: Project, release: Release, mail: Mailer, reason: str
) -> None:
    for owner in owners_of(session, project):
        email = owner.primary_email
        if email is not None and email.verified:
            mail(
                email.email,
                HELD_TEMPLATE,
                username=owner.username,
                project=project.name,
                version=release.version,
                reason=reason,
            )


def act_on_verdict(
    session: orm.Session,
    project: Project,
    release: Release,
    file: File,
    row: ScanResultRow,
    result: ScanResult,
    mail: Mailer,
) -> ReleaseHold | None:
    """Hold the release if ``result`` is malicious, keep a held release's new file hidden;
    the owners are told of a new malicious hold. Returns the release's hold, if any."""
    if result.verdict == "malicious":
        hold = holds.active_hold(session, release.id)
        was_malicious = hold is not None and hold.reason == holds.REASON_MALICIOUS
        detail = why_malicious(result)
        hold, _ = holds.hold_release(
            session,
            project,
            release,
            holds.REASON_MALICIOUS,
            detail=detail,
            result_id=row.id,
            new_file=file if hold is not None else None,
        )
        if not was_malicious:
            metrics.HOLDS.labels(holds.REASON_MALICIOUS).inc()
            mail_owners_about_hold(session, project, release, mail, detail)
            log.warning(
                "scan.release_held",
                project=project.name,
                version=release.version,
                filename=file.filename,
                detail=detail,
            )
        return hold
    return None


class UploadScanner:
    """Scans an upload before its transaction commits (called by the upload pipeline).

    In this process, for at most ``settings.scan_upload_budget_seconds``: a file that is not
    done by then (or that the scanner fails on) holds its release as *pending* and is scanned
    again by a worker in a child process under limits (``finish_upload_scan``). So no file is
    ever served before a verdict, and an upload waits at most the budget.
    """

    def __init__(self, session: orm.Session, settings: Settings, mail: Mailer):
        self.session = session
        self.settings = settings
        self.mail = mail

    def __call__(self, project: Project, release: Release, file: File, path: Path) -> None:
        session = self.session
        budget = self.settings.scan_upload_budget_seconds
        started = time.monotonic()
        try:
            result = scan_file(path, deadline=started + budget, filename=file.filename)
        except ScanTimeout:
            self._pending(project, release, file, f"not finished within {budget:g}s")
            return
        except Exception as exc:  # noqa: BLE001 - a scanner bug must not refuse the upload
            log.exception("scan.upload_failed", filename=file.filename)
            self._pending(project, release, file, f"the scanner failed: {type(exc).__name__}")
            return
        row = record_result(session, ScannedFile.of(project, release, file), result, "upload")
        if act_on_verdict(session, project, release, file, row, result, self.mail) is None:
            hold = holds.active_hold(session, release.id)
            if hold is not None:  # a held release's new file is hidden with it
                holds.hold_release(session, project, release, hold.reason, new_file=file)

    def _pending(self, project: Project, release: Release, file: File, why: str) -> None:
        from warehouse.scanning.tasks import finish_upload_scan

        metrics.UNFINISHED.labels(TRIGGER_UPLOAD, "budget" if "within" in why else "crash").inc()
        hold, created = holds.hold_release(
            self.session,
            project,
            release,
            holds.REASON_PENDING,
            detail=f"{file.filename}: {why}",
            new_file=None if holds.active_hold(self.session, release.id) is None else file,
        )
        if created:
            metrics.HOLDS.labels(holds.REASON_PENDING).inc()
        log.info("scan.upload_pending", filename=file.filename, why=why)
        # Sent once the upload's transaction commits (warehouse.tasks.WarehouseTask).
        finish_upload_scan.delay(file.id)


def unscanned_files(session: orm.Session, release_id: int) -> list[int]:
    """Ids of the release's files that have no result from their upload's scan yet."""
    return list(
        session.scalars(
            sa.select(File.id).where(
                File.release_id == release_id,
                ~sa.exists().where(
                    ScanResultRow.file_id == File.id, ScanResultRow.trigger == TRIGGER_UPLOAD
                ),
            )
        )
    )


def settle_pending_hold(session: orm.Session, release_id: int) -> bool:
    """Lift a *pending* hold once every file of the release has a verdict and none is
    malicious (a malicious one turned the hold into a malicious hold). True if lifted."""
    hold = holds.active_hold(session, release_id)
    if hold is None or hold.reason != holds.REASON_PENDING:
        return False
    if unscanned_files(session, release_id):
        return False
    failed = session.scalar(
        sa.select(sa.func.count())
        .select_from(ScanResultRow)
        .join(File, File.id == ScanResultRow.file_id)
        .where(
            File.release_id == release_id,
            ScanResultRow.trigger == TRIGGER_UPLOAD,
            ScanResultRow.error.is_not(None),
        )
    )
    if failed:
        return False  # a file the scanner could not read stays held for an admin
    holds.lift_hold(session, hold, SCANNER_ACTOR, "every file scanned: none malicious")
    return True


# Admin actions ------------------------------------------------------------------------------


def release_hold(session: orm.Session, actor: Actor, hold_id: int, reason: str) -> ReleaseHold:
    hold = session.get(ReleaseHold, hold_id)
    if hold is None:
        raise AdminError(f"There is no hold {hold_id}.")
    if hold.lifted is not None:
        raise AdminError(
            f"The hold on {hold.project_name} {hold.version} was already released by "
            f"{hold.lifted_by}."
        )
    reason = reason.strip() or "released by an admin"
    holds.lift_hold(session, hold, actor.username, reason)
    log_action(
        session,
        actor,
        "release hold",
        "project",
        hold.project_name,
        version=hold.version,
        hold=hold.id,
        held_for=hold.reason,
        reason=reason,
    )
    return hold


def find_active_hold(session: orm.Session, project_name: str, version: str) -> ReleaseHold:
    from packaging.utils import canonicalize_name

    hold = session.scalar(
        sa.select(ReleaseHold).where(
            ReleaseHold.project_name == canonicalize_name(project_name),
            ReleaseHold.version == version,
            ReleaseHold.lifted.is_(None),
        )
    )
    if hold is None:
        raise AdminError(f"{project_name} {version} is not held.")
    return hold


def dismiss_finding(
    session: orm.Session, actor: Actor, finding_id: int, reason: str
) -> FindingDismissal:
    reason = reason.strip()
    if not reason:
        raise AdminError("Say why the finding is not a threat: the next admin will read it.")
    finding = session.get(ScanFindingRow, finding_id)
    if finding is None:
        raise AdminError(f"There is no finding {finding_id}.")
    result = finding.result
    already = session.scalar(
        sa.select(FindingDismissal.id).where(*_same_finding(result.sha256, finding))
    )
    if already is not None:
        raise AdminError(f"That {finding.rule} finding is already dismissed.")
    dismissal = FindingDismissal(
        created=utcnow(),
        finding_id=finding.id,
        project_name=result.project_name,
        sha256=result.sha256,
        rule=finding.rule,
        member=finding.member,
        dismissed_by=actor.username,
        reason=reason,
    )
    session.add(dismissal)
    log_action(
        session,
        actor,
        "dismiss finding",
        "project",
        result.project_name,
        finding=finding.id,
        rule=finding.rule,
        filename=result.filename,
        member=finding.member,
        line=finding.line,
        reason=reason,
    )
    return dismissal


def _same_finding(sha256: str, finding: ScanFindingRow):
    return (
        FindingDismissal.sha256 == sha256,
        FindingDismissal.rule == finding.rule,
        FindingDismissal.member.is_not_distinct_from(finding.member),
    )


# Views of it all ----------------------------------------------------------------------------


@dataclasses.dataclass
class ResultView:
    result: ScanResultRow
    # finding id -> its dismissal
    dismissed: dict[int, FindingDismissal]

    @property
    def open_threats(self) -> list[ScanFindingRow]:
        return [f for f in self.result.findings if _needs_review(f) and f.id not in self.dismissed]


def _needs_review(finding: ScanFindingRow) -> bool:
    return finding.kind == "threat" and SEVERITIES.index(finding.severity) >= _MEDIUM


def _with_dismissals(session: orm.Session, results: Iterable[ScanResultRow]) -> list[ResultView]:
    results = list(results)
    digests = {r.sha256 for r in results}
    found: dict[tuple, FindingDismissal] = {}
    if digests:
        for dismissal in session.scalars(
            sa.select(FindingDismissal).where(FindingDismissal.sha256.in_(digests))
        ):
            found[(dismissal.sha256, dismissal.rule, dismissal.member)] = dismissal
    views = []
    for result in results:
        dismissed = {
            f.id: found[key]
            for f in result.findings
            if (key := (result.sha256, f.rule, f.member)) in found
        }
        views.append(ResultView(result, dismissed))
    return views


def _latest_results():
    """Results no newer result of the same file (by digest) has replaced."""
    newer = orm.aliased(ScanResultRow)
    return sa.select(ScanResultRow).where(
        ~sa.exists().where(newer.sha256 == ScanResultRow.sha256, newer.id > ScanResultRow.id)
    )


@dataclasses.dataclass
class ProjectScans:
    holds: list[ReleaseHold]
    # version -> the latest result of each of its files, with dismissals
    by_version: dict[str, list[ResultView]]

    def active_hold(self, version: str) -> ReleaseHold | None:
        return next((h for h in self.holds if h.version == version and h.lifted is None), None)


def project_scans(session: orm.Session, normalized_name: str) -> ProjectScans:
    results = session.scalars(
        _latest_results()
        .where(ScanResultRow.project_name == normalized_name)
        .options(orm.selectinload(ScanResultRow.findings))
        .order_by(ScanResultRow.filename)
    )
    by_version: dict[str, list[ResultView]] = defaultdict(list)
    for view in _with_dismissals(session, results):
        by_version[view.result.version].append(view)
    hold_rows = list(
        session.scalars(
            sa.select(ReleaseHold)
            .where(ReleaseHold.project_name == normalized_name)
            .order_by(ReleaseHold.id.desc())
        )
    )
    return ProjectScans(hold_rows, dict(by_version))


@dataclasses.dataclass
class Queue:
    held: list[ReleaseHold]
    suspicious: list[ResultView]


QUEUE_SIZE = 200


def findings_queue(session: orm.Session, limit: int = QUEUE_SIZE) -> Queue:
    """What admins must look at: releases held now, and the latest suspicious results whose
    threats are not all dismissed."""
    held = list(
        session.scalars(
            sa.select(ReleaseHold)
            .where(ReleaseHold.lifted.is_(None))
            .order_by(ReleaseHold.id.desc())
            .limit(limit)
        )
    )
    candidates = session.scalars(
        _latest_results()
        .where(ScanResultRow.verdict == "suspicious")
        .options(orm.selectinload(ScanResultRow.findings))
        .order_by(ScanResultRow.id.desc())
        .limit(limit)
    )
    suspicious = [v for v in _with_dismissals(session, candidates) if v.open_threats]
    return Queue(held, suspicious)
