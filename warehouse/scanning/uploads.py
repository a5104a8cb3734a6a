"""Every upload is scanned: the hook the upload pipeline calls, and the worker's second try
for a file whose scan did not finish within the upload's budget."""

from __future__ import annotations

import sqlalchemy as sa
import structlog

from warehouse.packaging.models import File, Project, Release
from warehouse.scanning import holds, metrics
from warehouse.scanning.models import TRIGGER_UPLOAD, ScanResultRow
from warehouse.scanning.services import (
    ScannedFile,
    UploadScanner,
    act_on_verdict,
    record_result,
    settle_pending_hold,
)

log = structlog.get_logger(__name__)


class ScanAttemptFailed(Exception):
    """The child did not finish; the task tries again later."""


def upload_scanner(request) -> UploadScanner | None:
    """The scanner the upload pipeline calls before its commit (None: scanning is off)."""
    from warehouse.admin.mail import request_mailer

    settings = request.registry.settings["warehouse"]
    if not settings.scan_uploads:
        return None
    return UploadScanner(request.db, settings, request_mailer(request))


def _already_scanned(session, file_id: int) -> bool:
    return (
        session.scalar(
            sa.select(ScanResultRow.id).where(
                ScanResultRow.file_id == file_id, ScanResultRow.trigger == TRIGGER_UPLOAD
            )
        )
        is not None
    )


def finish_pending_scan(ctx, file_id: int, attempt: int = 1, mail=None) -> str | None:
    """Scan file ``file_id`` in a child process and act on the verdict; returns the verdict
    (None if the file is gone or was already scanned). A scan that fails is retried by the
    task; the last attempt's failure is recorded and the release stays held for an admin."""
    from warehouse.admin.mail import session_mailer
    from warehouse.scanning.isolation import scan_file_isolated
    from warehouse.scanning.tasks import child_limits, prefetch, workdir

    with ctx.session() as session:
        file = session.get(File, file_id)
        if file is None or _already_scanned(session, file_id):
            return None
        key, filename = file.path, file.filename
    with workdir(ctx) as scratch:
        local = prefetch(ctx, key, scratch / "blob")
        result = scan_file_isolated(str(local), child_limits(ctx.settings), filename=filename)
    if result.error is not None:
        metrics.UNFINISHED.labels(TRIGGER_UPLOAD, "child").inc()
        if attempt < ctx.settings.scan_max_attempts:
            raise ScanAttemptFailed(f"{filename}: {result.error.splitlines()[0]}")
    with ctx.session() as session:
        file = session.get(File, file_id)
        if file is None or _already_scanned(session, file_id):
            return None
        release = session.get(Release, file.release_id)
        project = session.get(Project, release.project_id)
        row = record_result(session, ScannedFile.of(project, release, file), result, "upload")
        mail = mail or session_mailer(session, ctx.settings.site_url)
        if act_on_verdict(session, project, release, file, row, result, mail) is None:
            if settle_pending_hold(session, release.id):
                log.info("scan.pending_hold_lifted", project=project.name, version=release.version)
        hold = holds.active_hold(session, release.id)
        log.info(
            "scan.upload_finished",
            filename=filename,
            verdict=result.verdict,
            held=hold.reason if hold else None,
        )
    return result.verdict
