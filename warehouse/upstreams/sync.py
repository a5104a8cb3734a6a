"""Mirroring an upstream's metadata: what changed there, and one project's state applied here.

A pass over an upstream with serials:

1. :func:`discover` reads the upstream's index once (PEP 691 JSON: every project with its
   ``_last-serial``), keeps the names the project filters allow whose serial is newer than
   the last one mirrored, plus the mirrored names the upstream no longer lists, and queues
   them in ``upstream_queue`` with the serial each page must reach. It notes the index's
   serial as the pass's target.
2. One task per queued project (:func:`sync_project`) fetches the project's page, refuses a
   page older than the queued serial (a CDN's stale copy: the task retries later), applies
   it and deletes the queue row in the same transaction, journaling every change as an
   upload would (so the change log, XML-RPC, ``_last-serial`` and CDN purges follow).
3. The task that empties the queue moves the upstream's ``last_serial`` to the target.

A pass killed at any moment leaves its queue rows: the next beat run sends their tasks again
(applying a page is idempotent). An upstream without serials (a static folder) has no index
to diff: its projects are fetched when first asked for (:class:`OnDemandPages`) and fetched
again once older than the upstream's ``page_ttl``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime
import threading
import time
from collections.abc import Iterable

import sqlalchemy as sa
import structlog
from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import insert

from warehouse.db import utcnow
from warehouse.packaging import journal
from warehouse.packaging.journal import Action, FileRef
from warehouse.packaging.models import File, Project, Release
from warehouse.packaging.services import DatabaseProjectService, release_sort_key
from warehouse.storage.keys import content_key
from warehouse.upstreams import metrics, secrets
from warehouse.upstreams.client import (
    Index,
    ProjectPage,
    StalePage,
    UpstreamClient,
    UpstreamUnavailable,
)
from warehouse.upstreams.filters import Filters
from warehouse.upstreams.models import (
    Policy,
    Upstream,
    UpstreamAllowance,
    UpstreamFile,
    UpstreamProject,
    UpstreamQueueItem,
)

log = structlog.get_logger(__name__)

__all__ = ["StalePage", "UpstreamUnavailable", "discover", "sync_project"]

_RELEASE_TEXT = (
    "summary",
    "description",
    "description_content_type",
    "keywords",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "home_page",
    "download_url",
)


def client_for(settings, upstream: Upstream) -> UpstreamClient:
    password = (
        secrets.decrypt(settings, upstream.password_encrypted)
        if upstream.password_encrypted
        else None
    )
    return UpstreamClient(upstream.url, upstream.username, password)


def submitter(upstream: Upstream) -> str:
    return f"upstream:{upstream.name}"


# 1. What changed -----------------------------------------------------------------------------


def discover(ctx, upstream_id: int, *, force: bool = False) -> int:
    """Queue the upstream's projects that changed since the last pass; the number queued.

    ``force`` queues every listed project (the CLI's ``sync`` of an upstream without serials,
    or a first pass)."""
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        filters = Filters.from_config(upstream.bandersnatch_config)
        client = client_for(ctx.settings, upstream)
        since = upstream.last_serial
        has_serials = upstream.has_serials
        mirrored = dict(
            session.execute(
                sa.select(Project.normalized_name, UpstreamProject.serial)
                .join(UpstreamProject, UpstreamProject.project_id == Project.id)
                .where(UpstreamProject.upstream_id == upstream_id)
            ).all()
        )
    try:
        changelog = None
        if has_serials and since > 0 and not force:
            # Only the changes since the last pass: PyPI's whole index is megabytes.
            changelog = client.changelog_since(since)
        index = None if changelog is not None else client.index()
    finally:
        client.close()
    queue: dict[str, int] = {}
    if changelog is not None:
        newest, changed = changelog
        index = Index(newest, {})
        for name, serial in changed.items():
            if filters.project_allowed(name):
                queue[canonicalize_name(name)] = serial
    elif index.serial is None:
        # No serials: only what is already mirrored is refreshed (the rest is on demand).
        if force:
            queue = dict.fromkeys(mirrored, 0)
    else:
        listed = set()
        for name, serial in index.projects.items():
            normalized = canonicalize_name(name)
            listed.add(normalized)
            if not filters.project_allowed(name):
                continue
            if force or serial is None or serial > since or normalized not in mirrored:
                if normalized in mirrored and serial is not None and mirrored[normalized] >= serial:
                    continue
                queue[normalized] = serial or 0
        for normalized in mirrored.keys() - listed:
            queue[normalized] = index.serial  # gone upstream
        # Mirrored projects the filters no longer allow go too (their page applies as empty).
        for normalized in mirrored.keys() & listed:
            if normalized not in queue and not filters.project_allowed(normalized):
                queue[normalized] = index.serial
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id, with_for_update=True)
        upstream.has_serials = index.serial is not None
        if index.serial is not None:
            upstream.target_serial = max(index.serial, upstream.target_serial or 0)
        upstream.last_sync_started = utcnow()
        upstream.state = "syncing" if queue else "idle"
        upstream.state_detail = f"{len(queue)} projects queued" if queue else "up to date"
        if queue:
            rows = [
                {"upstream_id": upstream_id, "normalized_name": n, "serial": s}
                for n, s in sorted(queue.items())
            ]
            statement = insert(UpstreamQueueItem)
            for start in range(0, len(rows), 1000):
                session.execute(
                    statement.values(rows[start : start + 1000]).on_conflict_do_update(
                        index_elements=["upstream_id", "normalized_name"],
                        set_={
                            "serial": sa.func.greatest(
                                UpstreamQueueItem.serial, statement.excluded.serial
                            )
                        },
                    )
                )
        else:
            _finish_pass(session, upstream)
    log.info("upstream.discovered", upstream=upstream_id, queued=len(queue), serial=index.serial)
    return len(queue)


def queued_items(session: orm.Session, upstream_id: int) -> list[tuple[str, int]]:
    """(name, serial its page must reach) of every queued project, in the queue's order."""
    rows = session.execute(
        sa.select(UpstreamQueueItem.normalized_name, UpstreamQueueItem.serial)
        .where(UpstreamQueueItem.upstream_id == upstream_id)
        .order_by(UpstreamQueueItem.normalized_name)
    ).all()
    return [(name, serial) for name, serial in rows]


def queued_names(session: orm.Session, upstream_id: int, *, due_before=None) -> list[str]:
    query = sa.select(UpstreamQueueItem.normalized_name).where(
        UpstreamQueueItem.upstream_id == upstream_id
    )
    if due_before is not None:
        query = query.where(
            sa.or_(
                UpstreamQueueItem.attempted_at.is_(None),
                UpstreamQueueItem.attempted_at < due_before,
            )
        )
    return list(session.scalars(query.order_by(UpstreamQueueItem.normalized_name)))


def _finish_pass(session: orm.Session, upstream: Upstream) -> None:
    if upstream.target_serial is not None:
        upstream.last_serial = max(upstream.last_serial, upstream.target_serial)
    upstream.state = "idle"
    upstream.state_detail = "up to date"
    upstream.last_sync_finished = utcnow()


# 2. One project ------------------------------------------------------------------------------


@dataclasses.dataclass
class Applied:
    """What applying a page changed (for the caller's after-commit work and its tests)."""

    created: bool = False
    removed: bool = False
    skipped: str = ""
    new_file_ids: list[int] = dataclasses.field(default_factory=list)
    removed_files: int = 0


def sync_project(ctx, upstream_id: int, normalized: str) -> Applied:
    """Fetch one queued project from the upstream and apply it here (idempotent).

    Raises :class:`StalePage` or :class:`UpstreamUnavailable` (the task retries); the queue
    row stays until a page is applied."""
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        if upstream is None:
            return Applied(skipped="upstream removed")
        item = session.get(UpstreamQueueItem, (upstream_id, normalized))
        wanted = item.serial if item is not None else 0
        if item is not None:
            item.attempted_at = utcnow()
            item.attempts += 1
        client = client_for(ctx.settings, upstream)
        config = upstream.bandersnatch_config
    filters = Filters.from_config(config)
    try:
        page = fetch_page(client, filters, normalized, wanted)
    except UpstreamUnavailable as exc:
        _note_error(ctx, upstream_id, normalized, str(exc))
        raise
    finally:
        client.close()
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id, with_for_update=True)
        applied = store_page(session, upstream, normalized, wanted, page, filters)
        remaining = session.scalar(
            sa.select(sa.func.count()).where(UpstreamQueueItem.upstream_id == upstream_id)
        )
        if not remaining and upstream.state == "syncing":
            _finish_pass(session, upstream)
    metrics.PROJECTS_SYNCED.inc()
    return applied


def fetch_page(
    client: UpstreamClient, filters: Filters, normalized: str, wanted: int
) -> ProjectPage | None:
    """The project's page as the upstream shows it (None: not there, or filtered out).

    Raises :class:`StalePage` for a page older than the serial queued for it. Touches no
    database, so that pages can be fetched in threads (:func:`sync_queued`)."""
    if not filters.project_allowed(normalized):
        return None
    page = client.project(normalized)
    if page is not None and page.serial is not None and page.serial < wanted:
        raise StalePage(f"stale page: {normalized}: the upstream served {page.serial} < {wanted}")
    return page


def store_page(
    session: orm.Session,
    upstream: Upstream,
    normalized: str,
    wanted: int,
    page: ProjectPage | None,
    filters: Filters,
) -> Applied:
    """Apply a fetched page and take its project off the queue, in the caller's transaction:
    the queue row goes only with the rows it stands for (the pass's checkpoint)."""
    applied = apply_page(session, upstream, normalized, page, filters)
    _dequeue(session, upstream.id, [(normalized, _serial_applied(page, wanted))])
    return applied


def _dequeue(session: orm.Session, upstream_id: int, applied: list[tuple[str, int]]) -> None:
    """Take ``(name, serial applied)`` off the upstream's queue, in the caller's transaction
    (the one that stored them: the queue is the pass's checkpoint)."""
    rows = sa.values(
        sa.column("name", sa.Text), sa.column("upto", sa.BigInteger), name="applied"
    ).data(applied)
    session.execute(
        sa.delete(UpstreamQueueItem).where(
            UpstreamQueueItem.upstream_id == upstream_id,
            UpstreamQueueItem.normalized_name == rows.c.name,
            # A row a newer discovery raised meanwhile stays: that serial is not applied.
            UpstreamQueueItem.serial <= rows.c.upto,
        )
    )


def _serial_applied(page: ProjectPage | None, wanted: int) -> int:
    return (page.serial or 0) if page else wanted


@dataclasses.dataclass
class PassOutcome:
    """What :func:`sync_queued` did: the pages applied, and the projects left queued."""

    applied: int = 0
    new_file_ids: list[int] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)


# Pages applied in one transaction at most: fewer commits (and journal locks, and
# after-commit reactions) per project, while a kill loses little work.
APPLY_BATCH = 25


def sync_queued(
    ctx,
    upstream_id: int,
    *,
    workers: int = 8,
    names: list[str] | None = None,
    progress=None,
) -> PassOutcome:
    """Sync the upstream's queued projects (or ``names`` of them): ``workers`` threads fetch
    pages ahead while this thread applies them in the queue's order.

    The pages ready at the head of the queue are applied together, in one transaction that
    also deletes their queue rows; a page is never applied before the pages queued ahead of
    it, so a pass killed at any moment has applied a prefix of the queue, less the projects
    whose fetch failed (they stay queued, with their error; the pass is not finished until a
    later run applies them). ``progress(n)`` is called as projects are done (or failed)."""
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        if upstream is None:
            return PassOutcome()
        config = upstream.bandersnatch_config
        items = queued_items(session, upstream_id)
        url, username = upstream.url, upstream.username
        password = (
            secrets.decrypt(ctx.settings, upstream.password_encrypted)
            if upstream.password_encrypted
            else None
        )
    if names is not None:
        wanted_names = set(names)
        items = [(n, s) for n, s in items if n in wanted_names]
    filters = Filters.from_config(config)
    outcome = PassOutcome()
    local = threading.local()
    clients: list[UpstreamClient] = []
    clients_lock = threading.Lock()

    def fetch(normalized: str, wanted: int) -> ProjectPage | None:
        client = getattr(local, "client", None)
        if client is None:
            # One kept-alive session per thread (requests' sessions are not thread-safe).
            client = local.client = UpstreamClient(url, username, password)
            with clients_lock:
                clients.append(client)
        return fetch_page(client, filters, normalized, wanted)

    workers = max(1, workers)
    ahead = workers * 4  # pages fetched ahead of the one being applied: memory stays flat
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="upstream-fetch")
    pending: collections.deque = collections.deque()
    todo = iter(items)
    try:
        while True:
            while len(pending) < ahead:
                item = next(todo, None)
                if item is None:
                    break
                pending.append((*item, pool.submit(fetch, *item)))
            if not pending:
                break
            ready: list[tuple[str, int, ProjectPage | None]] = []
            # Block for the head only when nothing is ready; then take every page done.
            while pending and len(ready) < APPLY_BATCH and (not ready or pending[0][2].done()):
                normalized, wanted, future = pending.popleft()
                try:
                    ready.append((normalized, wanted, future.result()))
                except UpstreamUnavailable as exc:
                    # It stays queued (so the pass stays unfinished); the next run retries it.
                    outcome.failed[normalized] = str(exc)
                    _note_error(ctx, upstream_id, normalized, str(exc), attempted=True)
                    if progress is not None:
                        progress(1)
            if ready:
                _store_batch(ctx, upstream_id, ready, filters, outcome)
                if progress is not None:
                    progress(len(ready))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for client in clients:
            client.close()
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id, with_for_update=True)
        remaining = session.scalar(
            sa.select(sa.func.count()).where(UpstreamQueueItem.upstream_id == upstream_id)
        )
        if upstream is not None and not remaining and upstream.state == "syncing":
            _finish_pass(session, upstream)
    return outcome


def _store_batch(ctx, upstream_id: int, ready, filters: Filters, outcome: PassOutcome) -> None:
    """Apply pages in one transaction: their projects read (and locked) together, their
    queue rows deleted together, with the rows they stand for."""
    names = [normalized for normalized, _, _ in ready]
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id, with_for_update=True)
        locked = {
            p.normalized_name: p
            for p in session.scalars(
                sa.select(Project)
                .where(Project.normalized_name.in_(names))
                .order_by(Project.id)
                .with_for_update()
            )
        }
        if locked:
            # Into the identity map: apply_page's look-ups of these links are free.
            session.scalars(
                sa.select(UpstreamProject).where(
                    UpstreamProject.project_id.in_([p.id for p in locked.values()])
                )
            ).all()
        results = apply_pages(
            session,
            upstream,
            [(normalized, page) for normalized, _, page in ready],
            filters,
            locked,
        )
        _dequeue(
            session,
            upstream_id,
            [(normalized, _serial_applied(page, wanted)) for normalized, wanted, page in ready],
        )
    metrics.PROJECTS_SYNCED.inc(len(results))
    outcome.applied += len(results)
    for result in results:
        outcome.new_file_ids += result.new_file_ids


def _note_error(
    ctx, upstream_id: int, normalized: str, message: str, *, attempted: bool = False
) -> None:
    counted = (
        {"attempted_at": utcnow(), "attempts": UpstreamQueueItem.attempts + 1} if attempted else {}
    )
    with ctx.session() as session:
        session.execute(
            sa.update(UpstreamQueueItem)
            .where(
                UpstreamQueueItem.upstream_id == upstream_id,
                UpstreamQueueItem.normalized_name == normalized,
            )
            .values(last_error=message[:500], **counted)
        )


def allowed_here(session: orm.Session, upstream_id: int, normalized: str) -> bool:
    return session.get(UpstreamAllowance, (upstream_id, normalized)) is not None


def apply_pages(
    session: orm.Session,
    upstream: Upstream,
    pages: list[tuple[str, ProjectPage | None]],
    filters: Filters,
    locked: dict[str, Project],
) -> list[Applied]:
    """:func:`apply_page` for a batch of pages, whose projects ``locked`` holds (read ``FOR
    UPDATE``, with their links) if they exist here. The projects new here (most of a first
    pass) are written together, a few statements for the whole batch (see
    :func:`_create_projects`); the others one by one."""
    results: dict[str, Applied] = {}
    fresh: list[tuple[str, ProjectPage, dict]] = []
    for normalized, page in pages:
        if normalized not in locked and page is not None:
            releases = filters.releases_to_mirror(page.document)
            if releases:
                fresh.append((normalized, page, releases))
                continue
        results[normalized] = apply_page(
            session, upstream, normalized, page, filters, locked=locked
        )
    if fresh:
        left = _create_projects(session, upstream, fresh, results)
        # The few whose files are all taken here go the general way, after the batch's rows.
        for normalized, page, _ in left:
            results[normalized] = apply_page(session, upstream, normalized, page, filters)
    return [results[normalized] for normalized, _ in pages]


def _create_projects(session, upstream, fresh, results: dict[str, Applied]) -> list:
    """Create the projects of ``fresh`` (``(name, page, releases to mirror)``, none of them
    here yet) with their releases, files and links, journaled as :func:`apply_page` does, in
    one flush of the projects and one of the rest: one multi-row INSERT per table for the
    batch, where each project cost ~8 statements. Projects with a release whose every file
    is taken here (a rare clash of filenames) are returned, untouched, for apply_page."""
    who = submitter(upstream)
    candidates = [f["filename"] for _, _, releases in fresh for fs in releases.values() for f in fs]
    taken = set(session.scalars(sa.select(File.filename).where(File.filename.in_(candidates))))
    planned, left = [], []
    for normalized, page, releases in fresh:
        mine: set[str] = set()
        kept: dict[str, list[dict]] = {}
        for version, files in releases.items():
            kept[version] = []
            for f in files:
                if f["filename"] in taken or f["filename"] in mine:
                    log.info(
                        "upstream.filename_taken", upstream=upstream.name, filename=f["filename"]
                    )
                    continue
                mine.add(f["filename"])
                kept[version].append(f)
        if not all(kept.values()):
            left.append((normalized, page, releases))
            continue
        taken |= mine
        total_size = sum(f.get("size") or 0 for fs in kept.values() for f in fs)
        project = Project(
            name=_display_name(page, normalized),
            normalized_name=normalized,
            last_serial=0,
            total_size=total_size,
        )
        session.add(project)
        planned.append((project, page, releases, kept))
    if not planned:
        return left
    session.flush()  # the batch's new projects: one INSERT
    now = utcnow()
    new_files: list[tuple[File, dict, Applied]] = []
    for project, page, releases, kept in planned:
        applied = results[project.normalized_name] = Applied(created=True)
        journal.record(session, project.name, Action.CREATE_PROJECT, submitted_by=who)
        session.add(
            UpstreamProject(
                project_id=project.id,
                upstream_id=upstream.id,
                serial=page.serial or 0,
                fetched_at=now,
                shared=False,
            )
        )
        info = page.document["info"]
        made = []
        for version, files in releases.items():
            canonical, prerelease = _version_facts(version)
            release = _new_release(project, version, canonical, prerelease, info, files)
            session.add(release)
            made.append(release)
            journal.record(
                session, project.name, Action.NEW_RELEASE, version=version, submitted_by=who
            )
            for f in kept[version]:
                file = _new_file(upstream, release, f)
                session.add(file)
                new_files.append((file, f, applied))
                _journal_added_file(session, project, release, file, who)
            _sync_yank(session, project, release, files, who)
        # Every release has files: the ranks are known before the rows are written.
        _rank(made)
    session.flush()  # links, releases and files: one INSERT each
    session.add_all([_link_file(upstream, file, f) for file, f, _ in new_files])
    for file, _, applied in new_files:
        applied.new_file_ids.append(file.id)
    return left


def apply_page(
    session: orm.Session,
    upstream: Upstream,
    normalized: str,
    page: ProjectPage | None,
    filters: Filters,
    *,
    locked: dict[str, Project] | None = None,
) -> Applied:
    """Make the project here match the upstream's page (None: the upstream has no such
    project, or the filters exclude it); every change is journaled. ``locked``: the projects
    of a batch already read ``FOR UPDATE`` (with their links), by name."""
    applied = Applied()
    who = submitter(upstream)
    if locked is not None:
        project = locked.get(normalized)
    else:
        project = session.scalar(
            sa.select(Project).where(Project.normalized_name == normalized).with_for_update()
        )
    link = session.get(UpstreamProject, project.id) if project is not None else None
    if project is not None and (link is None or link.upstream_id != upstream.id):
        if link is not None:
            applied.skipped = "mirrored from another upstream"
            return applied
        if not allowed_here(session, upstream.id, normalized):
            # Dependency confusion: a local name is never served from an upstream unasked.
            log.info("upstream.local_name_kept", upstream=upstream.name, project=normalized)
            applied.skipped = "local project, not allowed from this upstream"
            return applied
    releases = filters.releases_to_mirror(page.document) if page is not None else None
    if not releases:
        if project is not None and link is not None and link.upstream_id == upstream.id:
            _remove_mirrored(session, upstream, project, link, applied)
        return applied
    if project is None:
        project = Project(
            name=_display_name(page, normalized),
            normalized_name=normalized,
            last_serial=0,
            total_size=0,
        )
        session.add(project)
        session.flush()
        journal.record(session, project.name, Action.CREATE_PROJECT, submitted_by=who)
        applied.created = True
    if link is None:
        shared = not applied.created
        link = UpstreamProject(
            project_id=project.id, upstream_id=upstream.id, serial=0, shared=shared
        )
        session.add(link)
    _apply_releases(session, upstream, project, page, releases, applied)
    link.serial = page.serial or 0
    link.fetched_at = utcnow()
    return applied


def _apply_releases(session, upstream, project, page, releases, applied: Applied) -> None:
    """Rows for the page's releases and files, in a few statements whatever their number:
    one read of what exists, one of the filenames taken, one flush of the new rows."""
    who = submitter(upstream)
    info = page.document["info"]
    created = applied.created
    existing = (
        {}
        if created
        else {
            r.canonical_version: r
            for r in session.scalars(sa.select(Release).where(Release.project_id == project.id))
        }
    )
    mirrored_files = (
        {}
        if created
        else {
            f.filename: (f, uf)
            for f, uf in session.execute(
                sa.select(File, UpstreamFile)
                .join(UpstreamFile, UpstreamFile.file_id == File.id)
                .join(Release, Release.id == File.release_id)
                .where(Release.project_id == project.id, UpstreamFile.upstream_id == upstream.id)
            ).all()
        }
    )
    candidates = [
        f["filename"]
        for files in releases.values()
        for f in files
        if f["filename"] not in mirrored_files
    ]
    taken = (
        set(session.scalars(sa.select(File.filename).where(File.filename.in_(candidates))))
        if candidates
        else set()
    )
    wanted_files: set[str] = set()
    new_files: list[tuple[File, dict]] = []
    reorder = False
    for version, files in releases.items():
        canonical, prerelease = _version_facts(version)
        release = existing.get(canonical)
        if release is None:
            release = _new_release(project, version, canonical, prerelease, info, files)
            session.add(release)
            existing[canonical] = release
            journal.record(
                session, project.name, Action.NEW_RELEASE, version=version, submitted_by=who
            )
            reorder = True
        for f in files:
            wanted_files.add(f["filename"])
            if f["filename"] in mirrored_files:
                continue
            if f["filename"] in taken:
                log.info("upstream.filename_taken", upstream=upstream.name, filename=f["filename"])
                continue
            taken.add(f["filename"])
            file = _new_file(upstream, release, f)
            session.add(file)
            new_files.append((file, f))
            project.total_size = (project.total_size or 0) + file.size
            # No FileRef: the blob is not stored yet, so nothing is copied to the cache now
            # (the first download stores it and sends the copy; see warehouse.upstreams.fetch).
            _journal_added_file(session, project, release, file, who)
        _sync_yank(session, project, release, files, who)
    for filename, (file, _) in mirrored_files.items():
        if filename not in wanted_files:
            _remove_file(session, project, file, who)
            applied.removed_files += 1
    with_files = {file.release for file, _ in new_files}
    whole = created and all(r in with_files for r in existing.values())
    if whole:
        # A new project whose every release has files: the ranks are known before the rows
        # are written (no count, no reordering afterwards).
        _rank(existing.values())
        reorder = False
    session.flush()  # the new releases and files, in one go
    for file, f in new_files:
        session.add(_link_file(upstream, file, f))
        applied.new_file_ids.append(file.id)
    # Releases left without files go (all their files gone, or every name taken).
    counts = (
        {}
        if whole
        else dict(
            session.execute(
                sa.select(File.release_id, sa.func.count())
                .where(File.release_id.in_([r.id for r in existing.values()]))
                .group_by(File.release_id)
            ).all()
        )
    )
    for release in [] if whole else list(existing.values()):
        if not counts.get(release.id):
            journal.record(
                session,
                project.name,
                Action.REMOVE_RELEASE,
                version=release.version,
                submitted_by=who,
            )
            session.delete(release)
            reorder = True
    if reorder:
        session.flush()
        DatabaseProjectService(session).reorder_releases(project)


def _new_release(project, version, canonical, prerelease, info, files) -> Release:
    is_current = info.get("version") == version
    text = {k: (info.get(k) or None) for k in _RELEASE_TEXT} if is_current else {}
    requires_python = next(
        (f.get("requires_python") for f in files if f.get("requires_python")), None
    )
    return Release(
        project_id=project.id,
        version=version,
        canonical_version=canonical,
        is_prerelease=prerelease,
        metadata_version=(info.get("metadata_version") if is_current else None) or "2.1",
        requires_python=requires_python,
        sort_order=0,
        yanked=False,
        yanked_reason="",
        **text,
    )


def _new_file(upstream: Upstream, release: Release, f: dict) -> File:
    digests = f["digests"]
    sha256 = digests["sha256"]
    blake2 = digests.get("blake2b_256", "")
    # The same layout as uploads when the BLAKE2 digest is known; the SHA-256 otherwise
    # (either names the content, and the key never changes once published).
    path = content_key(blake2 or sha256, f["filename"])
    uploaded = f.get("upload_time_iso_8601")
    return File(
        release=release,
        filename=f["filename"],
        packagetype=f.get("packagetype") or "sdist",
        python_version=f.get("python_version") or "source",
        requires_python=f.get("requires_python"),
        size=f.get("size") or 0,
        md5_digest=digests.get("md5", ""),
        sha256_digest=sha256,
        blake2_256_digest=blake2,
        path=path,
        upload_time=_parse_time(uploaded) if uploaded else utcnow(),
        uploaded_via=f"upstream:{upstream.name}",
        metadata_sha256=f.get("core_metadata"),
    )


def _parse_time(text: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _sync_yank(session, project, release, files, who) -> None:
    yanked = all(f.get("yanked") for f in files)
    if yanked == release.yanked:
        return
    release.yanked = yanked
    release.yanked_reason = (files[0].get("yanked_reason") or "") if yanked else ""
    action = Action.YANK_RELEASE if yanked else Action.UNYANK_RELEASE
    journal.record(session, project.name, action, version=release.version, submitted_by=who)


def _remove_file(session, project, file: File, who: str) -> None:
    journal.record(
        session,
        project.name,
        Action.REMOVE_FILE,
        version=file.release.version,
        submitted_by=who,
        files=(FileRef.of(file),),
        filename=file.filename,
    )
    project.total_size = max(0, (project.total_size or 0) - file.size)
    session.delete(file)


def _remove_mirrored(session, upstream, project, link, applied: Applied) -> None:
    who = submitter(upstream)
    if link.shared:
        # Local files stay: only what came from the upstream goes.
        for file in session.scalars(
            sa.select(File)
            .join(UpstreamFile, UpstreamFile.file_id == File.id)
            .where(UpstreamFile.upstream_id == upstream.id)
            .join(Release, Release.id == File.release_id)
            .where(Release.project_id == project.id)
        ):
            _remove_file(session, project, file, who)
            applied.removed_files += 1
        session.delete(link)
        return
    journal.record(
        session,
        project.name,
        Action.REMOVE_PROJECT,
        submitted_by=who,
        files=FileRef.all_of_project(session, project.id),
    )
    session.delete(project)
    applied.removed = True


# Upstreams without serials: pages on demand ------------------------------------------------


class OnDemandPages:
    """Called by the simple API when it would answer 404: asks the upstreams without serials
    for the name, and mirrors it when one has it. Local names never get here (they exist)."""

    # A name no upstream had is not asked for again for this long (per process).
    MISS_SECONDS = 60

    def __init__(self, registry):
        self.registry = registry
        self._misses: dict[str, float] = {}
        self._lock = threading.Lock()

    def fetch(self, normalized: str) -> bool:
        """True when the project now exists here (the caller renders it again)."""
        now = time.monotonic()
        with self._lock:
            if self._misses.get(normalized, 0) > now:
                return False
            if len(self._misses) > 10_000:
                self._misses.clear()
        ctx = self.registry.get("tasks.context")
        if ctx is None:
            return False
        with ctx.session() as session:
            candidates = session.scalars(
                sa.select(Upstream.id)
                .where(sa.or_(Upstream.has_serials.is_(False), Upstream.has_serials.is_(None)))
                .order_by(Upstream.id)
            ).all()
            exists = session.scalar(
                sa.select(Project.id).where(Project.normalized_name == normalized)
            )
        if exists is not None or not candidates:
            return False
        for upstream_id in candidates:
            try:
                applied = fetch_on_demand(ctx, upstream_id, normalized)
            except UpstreamUnavailable as exc:
                log.warning("upstream.unavailable", upstream=upstream_id, error=str(exc))
                continue
            if applied.created:
                return True
        with self._lock:
            self._misses[normalized] = now + self.MISS_SECONDS
        return False


def fetch_on_demand(ctx, upstream_id: int, normalized: str) -> Applied:
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        filters = Filters.from_config(upstream.bandersnatch_config)
        client = client_for(ctx.settings, upstream)
    if not filters.project_allowed(normalized):
        return Applied(skipped="filtered")
    try:
        page = client.project(normalized)
    finally:
        client.close()
    if page is None:
        return Applied(skipped="not upstream")
    with ctx.session() as session:
        upstream = session.get(Upstream, upstream_id)
        return apply_page(session, upstream, normalized, page, filters)


def stale_on_demand_projects(session: orm.Session, limit: int = 500) -> list[tuple[int, str]]:
    """(upstream id, name) of pages of upstreams without serials older than their TTL."""
    rows = session.execute(
        sa.select(UpstreamProject.upstream_id, Project.normalized_name)
        .join(Project, Project.id == UpstreamProject.project_id)
        .join(Upstream, Upstream.id == UpstreamProject.upstream_id)
        .where(
            Upstream.has_serials.is_not(True),
            UpstreamProject.fetched_at
            < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, Upstream.page_ttl),
        )
        .order_by(UpstreamProject.fetched_at)
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def stores_files(policy: str) -> bool:
    return policy != Policy.streamed.value


def _journal_added_file(session, project, release, file, who) -> None:
    journal.record(
        session,
        project.name,
        Action.ADD_FILE,
        version=release.version,
        submitted_by=who,
        packagetype=file.packagetype,
        filename=file.filename,
    )


def _display_name(page: ProjectPage, normalized: str) -> str:
    """The upstream's spelling of the project's name, if it is one of ``normalized``."""
    display = page.document["info"].get("name") or normalized
    return display if canonicalize_name(display) == normalized else normalized


def _version_facts(version: str) -> tuple[str, bool]:
    """``(canonical version, is a pre-release)``; a legacy version is its own canonical form."""
    try:
        return canonicalize_version(version), Version(version).is_prerelease
    except InvalidVersion:
        return version, False


def _rank(releases: Iterable[Release]) -> None:
    """Set ``sort_order`` of a project's every release (all of them given) by version."""
    for rank, release in enumerate(sorted(releases, key=lambda r: release_sort_key(r.version))):
        release.sort_order = rank


def _link_file(upstream: Upstream, file: File, f: dict) -> UpstreamFile:
    """The link of a new mirrored file (flushed, so it has its id) to its upstream entry."""
    return UpstreamFile(
        file_id=file.id,
        upstream_id=upstream.id,
        path=file.path,
        url=f["url"],
        metadata_url=f["url"] + ".metadata" if f.get("core_metadata") else None,
    )
