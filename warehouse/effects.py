"""What a committed change sets off: the one ordered list of reactions.

Every change to the index writes a journal entry (:func:`warehouse.packaging.journal.record`)
that says, as data, which project changed, how, and which files it added or took away. Code
that changes the index does nothing more: the reactions below follow from the entries, for
every session the project makes (:func:`warehouse.db.make_session_factory` attaches them), so
a change made from the web, the management API, the CLI or a worker sets off the same ones.

Inside the transaction, as it commits (``IN_TRANSACTION``): the entries are numbered and
written under the journal's lock, then what must commit or vanish with the change is written
beside them (the search index's rows, the chunks of the ``/simple/`` listing that hold the
changed projects). After the commit (``AFTER_COMMIT``), in this order, because each step
relies on the one before:

1. the read caches forget the projects' serials, so the next read renders the new state
   (and the statistics' kept answers of the projects are forgotten);
2. OpenSearch gets its reindex tasks (the PostgreSQL index was rewritten in the transaction);
3. a quarantine entered or left, or a release held or given back by a scan, makes every web
   process reload its blocklist of files;
4. the CDN is purged, after steps 1 and 3, so what it fetches again is already new;
5. new files are copied to the cache store;
6. removed files' blobs are deleted from the archive and the cache store (nothing points at
   them any more).

A reaction is a small function of :class:`Committed`; a new domain adds one line to a list.
A reaction that fails is logged and the others still run: the commit stands, and each has a
periodic task that catches up (reconcile, audit, the CDN's second purge, serial expiry).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import event, orm

from warehouse.admin.services import reload_blocklists
from warehouse.api import root_listing
from warehouse.api.cache import invalidate_projects
from warehouse.cdn.tasks import purge_after_commit
from warehouse.db import CONTEXT_INFO_KEY, REDIS_INFO_KEY
from warehouse.packaging import journal
from warehouse.packaging.journal import Action, Entry
from warehouse.search import indexing
from warehouse.search.tasks import send_reindex_tasks
from warehouse.stats.services import forget_answers
from warehouse.storage import replication
from warehouse.storage.tasks import send_copies

if TYPE_CHECKING:
    from warehouse.tasks import TaskContext

log = structlog.get_logger(__name__)

_WRITTEN = "warehouse.effects.written"


@dataclasses.dataclass(frozen=True)
class Committed:
    """A transaction as its reactions see it: its journal entries and where to act."""

    session: orm.Session
    entries: tuple[Entry, ...]
    # The stores, Redis and settings of the process; None for a session made outside the app,
    # a worker or the CLI (a bare test session), which has nothing to react with.
    context: TaskContext | None

    @property
    def projects(self) -> frozenset[str]:
        """Normalized names of the projects the entries name."""
        return frozenset(entry.normalized_name for entry in self.entries)

    def file_ids(self, action: Action) -> list[int]:
        return [f.id for e in self.entries if e.action is action for f in e.files]

    def removed_blob_keys(self) -> list[str]:
        return [
            key
            for entry in self.entries
            if entry.action.removes_files
            for file in entry.files
            for key in file.blob_keys
        ]


Reaction = Callable[[Committed], None]


# Inside the transaction ----------------------------------------------------------------------


def reindex_search(change: Committed) -> None:
    indexing.reindex_before_commit(change.session, change.projects)


def update_root_listing(change: Committed) -> None:
    # Under the journal's lock, in the transaction: the /simple/ listing is current as soon as
    # the change is (warehouse.api.root_listing).
    if change.entries:
        root_listing.update(change.session, change.projects)


def mark_new_files_pending(change: Committed) -> None:
    if change.context is not None and change.context.has_separate_cache:
        replication.mark_pending(change.session, change.file_ids(Action.ADD_FILE))


IN_TRANSACTION: list[Reaction] = [
    reindex_search,
    update_root_listing,
    mark_new_files_pending,
]


# After the commit ----------------------------------------------------------------------------


def invalidate_read_caches(change: Committed) -> None:
    redis = change.session.info.get(REDIS_INFO_KEY)
    if redis is not None and change.projects:
        invalidate_projects(redis, change.projects)


def forget_stats_answers(change: Committed) -> None:
    # A removed or renamed project's statistics answers must not be served from Redis.
    redis = change.session.info.get(REDIS_INFO_KEY)
    if redis is not None and change.projects:
        forget_answers(redis, change.projects)


def reindex_opensearch(change: Committed) -> None:
    if change.context is not None and change.context.settings.search_backend == "opensearch":
        send_reindex_tasks(change.projects)


def reload_quarantine_blocklists(change: Committed) -> None:
    quarantines = [e for e in change.entries if e.action in _QUARANTINE_ACTIONS]
    if quarantines and change.context is not None:
        reload_blocklists(
            change.session.info.get(REDIS_INFO_KEY), change.context.settings, quarantines
        )


# Entries that hide files or show them again: a quarantine, and a scan's hold on a release.
_QUARANTINE_ACTIONS = frozenset(
    {
        Action.QUARANTINE_ENTER,
        Action.QUARANTINE_EXIT,
        Action.HOLD_RELEASE,
        Action.UNHOLD_RELEASE,
    }
)


def purge_cdn(change: Committed) -> None:
    if change.context is not None:
        purge_after_commit(change.context.settings, change.entries)


def copy_new_files_to_cache(change: Committed) -> None:
    if change.context is not None and change.context.has_separate_cache:
        send_copies(change.file_ids(Action.ADD_FILE))


def delete_removed_blobs(change: Committed) -> None:
    ctx = change.context
    keys = change.removed_blob_keys()
    if ctx is None or not keys:
        return
    replication.delete_blobs(ctx.archive, keys, what="archive")
    if ctx.has_separate_cache:
        replication.delete_blobs(ctx.cache, keys, what="cache")


AFTER_COMMIT: list[Reaction] = [
    invalidate_read_caches,
    forget_stats_answers,
    reindex_opensearch,
    # Before the purge: web processes start reloading which files are quarantined (downloads
    # check it without a query); the files are purged once more when they all have.
    reload_quarantine_blocklists,
    purge_cdn,
    copy_new_files_to_cache,
    delete_removed_blobs,
]


# The session events that drive the lists -----------------------------------------------------


def attach(session_factory: orm.sessionmaker) -> None:
    """Make every session of ``session_factory`` journal its changes and react to commits."""
    event.listen(session_factory, "after_flush", _after_flush)
    event.listen(session_factory, "before_commit", _before_commit)
    event.listen(session_factory, "after_commit", _after_commit)
    event.listen(session_factory, "after_soft_rollback", _after_soft_rollback)


def _after_flush(session: orm.Session, flush_context) -> None:
    indexing.note_flushed_projects(session)


def _before_commit(session: orm.Session) -> None:
    # before_commit runs before the commit's own flush: flush now to see every change.
    if session.new or session.dirty or session.deleted:
        session.flush()
    entries = tuple(journal.write_pending(session))
    change = Committed(session, entries, session.info.get(CONTEXT_INFO_KEY))
    for reaction in IN_TRANSACTION:
        reaction(change)
    if entries:
        session.info[_WRITTEN] = change


def _after_commit(session: orm.Session) -> None:
    journal.released(session)
    change: Committed | None = session.info.pop(_WRITTEN, None)
    if change is None:
        return
    for reaction in AFTER_COMMIT:
        try:
            reaction(change)
        except Exception:  # noqa: BLE001 - the commit stands; see the module docstring
            log.exception("reaction to a commit failed", reaction=reaction.__name__)


def _after_soft_rollback(session: orm.Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        journal.forget(session)
        indexing.forget_changed(session)
        session.info.pop(_WRITTEN, None)
