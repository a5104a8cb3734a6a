"""``warehouse check``: is the index whole? What an operator runs after a fault.

Each check reads what the index promises and says whether it holds:

* every file row uploaded in the window has its blobs (the file and its ``.metadata``) in the
  archive: an upload answers only after they are written, so one missing was lost after;
* the journal's serials have no gaps (they are numbered under a lock at commit, so a gap
  means a lost entry, and mirrors following the serial would miss a change);
* the cache store converges: every file has its cache row, and no file waits for its copy
  longer than a few reconcile rounds (a copy task lost with a worker is made good by the
  reconcile; one still waiting after that is stuck);
* no task failed for good in the window (Celery keeps the result of a failed task only).

The whole-store comparison, blob by blob, is ``warehouse storage verify``; this is the quick
look that a fault left nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.packaging.models import File, JournalEntry, blob_keys_of
from warehouse.storage.models import FileCacheStatus
from warehouse.upstreams.models import awaiting_fetch

# A pending copy older than this many reconcile rounds is stuck, not on its way.
ROUNDS_BEFORE_STUCK = 3
EXAMPLES = 5


@dataclasses.dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    examples: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return dataclasses.asdict(self) | {"examples": list(self.examples)}


def journal_has_no_gaps(session: orm.Session) -> Finding:
    count, low, high = session.execute(
        sa.select(sa.func.count(), sa.func.min(JournalEntry.id), sa.func.max(JournalEntry.id))
    ).one()
    if not count:
        return Finding("journal", True, "no journal entries yet")
    missing = (high - low + 1) - count
    if missing == 0:
        return Finding("journal", True, f"serials {low}..{high}, no gaps")
    gaps = session.execute(
        sa.text(
            "SELECT id + 1 AS first, next_id - 1 AS last FROM ("
            "  SELECT id, lead(id) OVER (ORDER BY id) AS next_id FROM journals"
            ") AS pairs WHERE next_id > id + 1 ORDER BY id LIMIT :limit"
        ),
        {"limit": EXAMPLES},
    ).all()
    return Finding(
        "journal",
        False,
        f"{missing} serials missing between {low} and {high}",
        tuple(f"{first}..{last}" for first, last in gaps),
    )


def files_in_archive(
    session: orm.Session,
    archive,
    since: datetime.datetime | None,
    on_file: Callable[[], None] = lambda: None,
) -> Finding:
    missing: list[str] = []
    checked = 0
    for path, metadata_sha256 in _files_since(session, since):
        for key in blob_keys_of(path, metadata_sha256):
            if not archive.exists(key):
                missing.append(key)
        checked += 1
        on_file()
    window = "files" if since is None else f"files uploaded since {since:%Y-%m-%d %H:%M} UTC"
    if not missing:
        return Finding("archive", True, f"{checked} {window}: every blob there")
    return Finding(
        "archive",
        False,
        f"{len(missing)} blobs missing from the archive among {checked} {window}",
        tuple(missing[:EXAMPLES]),
    )


def count_files_since(session: orm.Session, since: datetime.datetime | None) -> int:
    query = sa.select(sa.func.count()).select_from(File).where(~awaiting_fetch(File.id))
    if since is not None:
        query = query.where(File.upload_time >= since)
    return session.scalar(query)


def _files_since(session, since) -> Iterator[tuple[str, str | None]]:
    query = (
        sa.select(File.path, File.metadata_sha256).where(~awaiting_fetch(File.id)).order_by(File.id)
    )
    if since is not None:
        query = query.where(File.upload_time >= since)
    # Streamed in batches: memory stays flat whatever the number of files.
    yield from session.execute(query.execution_options(yield_per=1000))


def cache_converges(
    session: orm.Session, *, reconcile_seconds: int, now: datetime.datetime
) -> Finding:
    without_row = session.scalars(
        sa.select(File.filename)
        .outerjoin(FileCacheStatus, FileCacheStatus.file_id == File.id)
        .where(FileCacheStatus.file_id.is_(None), ~awaiting_fetch(File.id))
        .limit(EXAMPLES)
    ).all()
    stuck_before = now - datetime.timedelta(seconds=ROUNDS_BEFORE_STUCK * reconcile_seconds)
    pending = File.id.in_(
        sa.select(FileCacheStatus.file_id).where(FileCacheStatus.cached_at.is_(None))
    )
    stuck_count = session.scalar(
        sa.select(sa.func.count()).where(pending, File.upload_time < stuck_before)
    )
    waiting = session.scalar(sa.select(sa.func.count()).where(pending))
    problems = []
    if without_row:
        problems.append("files without a cache row (the audit adds them)")
    if stuck_count:
        problems.append(
            f"{stuck_count} copies pending longer than {ROUNDS_BEFORE_STUCK} reconcile rounds"
        )
    if problems:
        examples = tuple(without_row) + tuple(
            session.scalars(
                sa.select(File.filename)
                .where(pending, File.upload_time < stuck_before)
                .limit(EXAMPLES)
            )
        )
        return Finding("cache", False, "; ".join(problems), examples[:EXAMPLES])
    return Finding("cache", True, f"converging: {waiting} copies on their way, none stuck")


def no_failed_tasks(failures: list[dict], since: datetime.datetime | None) -> Finding:
    if since is not None:
        failures = [f for f in failures if _parsed(f["date_done"]) >= since]
    if not failures:
        return Finding("tasks", True, "no task failed for good")
    return Finding(
        "tasks",
        False,
        f"{len(failures)} tasks failed for good",
        tuple(f"{f['name']}: {f['error']}" for f in failures[:EXAMPLES]),
    )


def _parsed(text: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
