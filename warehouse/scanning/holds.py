"""Release holds: a release a scan called malicious (or could not finish scanning in time) is
withheld from installers until an admin gives it back.

A held release is gone from the simple pages and the JSON API (their queries ask
:func:`served`), and its files answer 404 (they are in every web process's blocklist, see
:func:`warehouse.admin.services.quarantined_blob_keys`). Holding and giving back are journal
entries carrying the release's files, so the reactions in :mod:`warehouse.effects` purge the
CDN and make web processes reload their blocklists, exactly as a quarantine does.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import utcnow
from warehouse.packaging import journal
from warehouse.packaging.journal import Action, FileRef
from warehouse.packaging.models import File, Project, Release, blob_keys_of
from warehouse.scanning.models import ReleaseHold

REASON_MALICIOUS = "malicious"
REASON_PENDING = "pending"


def held(release_id_column) -> sa.ColumnElement[bool]:
    """SQL: the release has an active hold."""
    return sa.exists().where(
        ReleaseHold.release_id == release_id_column, ReleaseHold.lifted.is_(None)
    )


def served(release_id_column) -> sa.ColumnElement[bool]:
    """SQL: the release is not held (what installers may see)."""
    return ~held(release_id_column)


def held_files_query():
    """SELECT path, metadata_sha256 of every file of every held release."""
    return (
        sa.select(File.path, File.metadata_sha256)
        .join(ReleaseHold, ReleaseHold.release_id == File.release_id)
        .where(ReleaseHold.lifted.is_(None))
    )


def active_hold(session: orm.Session, release_id: int) -> ReleaseHold | None:
    return session.scalar(
        sa.select(ReleaseHold).where(
            ReleaseHold.release_id == release_id, ReleaseHold.lifted.is_(None)
        )
    )


def release_files(session: orm.Session, release_id: int) -> tuple[FileRef, ...]:
    rows = session.execute(
        sa.select(File.id, File.filename, File.path, File.metadata_sha256).where(
            File.release_id == release_id
        )
    ).all()
    return tuple(
        FileRef(row.id, row.filename, blob_keys_of(row.path, row.metadata_sha256)) for row in rows
    )


def hold_release(
    session: orm.Session,
    project: Project,
    release: Release,
    reason: str,
    *,
    detail: str = "",
    result_id: int | None = None,
    new_file: File | None = None,
) -> tuple[ReleaseHold, bool]:
    """Hold ``release`` (or keep holding it); returns the hold and whether it is new.

    A pending hold that turns out malicious becomes a malicious one. A file added to a release
    already held is journaled on its own, so the CDN and the blocklists learn about it.
    """
    hold = active_hold(session, release.id)
    if hold is not None:
        if reason == REASON_MALICIOUS and hold.reason != REASON_MALICIOUS:
            hold.reason, hold.detail, hold.result_id = reason, detail, result_id
        if new_file is not None:
            journal.record(
                session,
                project.name,
                Action.HOLD_RELEASE,
                version=release.version,
                submitted_by=None,
                files=(FileRef.of(new_file),),
            )
        return hold, False
    hold = ReleaseHold(
        project_name=project.normalized_name,
        version=release.version,
        release_id=release.id,
        result_id=result_id,
        reason=reason,
        detail=detail,
        created=utcnow(),
    )
    session.add(hold)
    session.flush()
    journal.record(
        session,
        project.name,
        Action.HOLD_RELEASE,
        version=release.version,
        files=release_files(session, release.id),
    )
    return hold, True


def lift_hold(session: orm.Session, hold: ReleaseHold, by: str, reason: str) -> None:
    """Give the release back to installers (journaled with its files, as the hold was)."""
    hold.lifted = utcnow()
    hold.lifted_by = by
    hold.lift_reason = reason
    if hold.release_id is None:
        return  # the release was deleted since: nothing to show again
    release = session.get(Release, hold.release_id)
    journal.record(
        session,
        release.project.name,
        Action.UNHOLD_RELEASE,
        version=release.version,
        submitted_by=by,
        files=release_files(session, release.id),
    )
