"""The journal: every change to the index, numbered by the global serial.

Code that changes the index calls :func:`record` inside its transaction. The entries get
their serials only at commit time, under a transaction-scoped advisory lock that PostgreSQL
releases after the commit is visible. So:

* serials increase in commit order: the next writer cannot take a number until the previous
  one has committed;
* readers never see a gap that is filled later: the number is ``max(id) + 1`` read under
  the lock, never a sequence value that a rolled-back transaction could have burnt;
* the lock is held only for the last moments of a transaction, not for the whole upload.

``projects.last_serial`` is updated in the same step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sqlalchemy as sa
import structlog
from packaging.utils import canonicalize_name
from sqlalchemy import event, orm

from warehouse.db import utcnow
from warehouse.packaging.models import JournalEntry, Project

log = structlog.get_logger(__name__)

# An arbitrary constant that names "the journal" among advisory locks.
JOURNAL_LOCK_KEY = 0x6A6F75726E616C  # "journal"
_PENDING = "warehouse.journal.pending"
_COMMITTING = "warehouse.journal.committing"
_LOCKED = "warehouse.journal.locked"

# Called after every commit that wrote journal entries, with the normalized names of the
# projects those entries name. Caches and CDN purges subscribe here, so no code path that
# changes a project can forget to tell them: writing the journal entry is what tells them.
ChangeSubscriber = Callable[[orm.Session, frozenset[str]], None]
_subscribers: list[ChangeSubscriber] = []


# Called inside the transaction, as its entries are written (just before the commit), with
# every entry's (name, action): for hooks that must act on the commit itself, such as
# collecting the CDN keys to purge once it is done.
EntryWatcher = Callable[[orm.Session, list[tuple[str, str]]], None]
_watchers: list[EntryWatcher] = []


def watch_entries(callback: EntryWatcher) -> EntryWatcher:
    if callback not in _watchers:
        _watchers.append(callback)
    return callback


def subscribe(callback: ChangeSubscriber) -> ChangeSubscriber:
    if callback not in _subscribers:
        _subscribers.append(callback)
    return callback


class Action:
    CREATE_PROJECT = "create"
    NEW_RELEASE = "new release"
    ADD_FILE = "add {packagetype} file {filename}"
    REMOVE_FILE = "remove file {filename}"
    REMOVE_RELEASE = "remove release"
    REMOVE_PROJECT = "remove project"
    YANK_RELEASE = "yank release"
    UNYANK_RELEASE = "unyank release"
    ADD_ROLE = "add {role} {username}"
    REMOVE_ROLE = "remove {role} {username}"
    RENAME_PROJECT = "rename from {old}"
    # Written under the old name, so mirrors following that name learn where it went.
    RENAME_PROJECT_TO = "rename to {new}"
    # The project leaves every listing, or comes back (warehouse.admin).
    QUARANTINE_ENTER = "quarantine enter"
    QUARANTINE_EXIT = "quarantine exit"


@dataclasses.dataclass
class _Pending:
    name: str
    version: str | None
    action: str
    submitted_by: str | None


def record(
    session: orm.Session,
    name: str,
    action: str,
    *,
    version: str | None = None,
    submitted_by: str | None = None,
) -> None:
    """Add a journal entry about project ``name``; it is written when the session commits."""
    if not session.in_transaction():
        # Tie the entry to a transaction, so that a rollback discards it.
        session.begin()
    session.info.setdefault(_PENDING, []).append(_Pending(name, version, action, submitted_by))


def pending(session: orm.Session) -> list[_Pending]:
    return list(session.info.get(_PENDING, ()))


@event.listens_for(orm.Session, "after_soft_rollback")
def _forget_pending(session: orm.Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_PENDING, None)
        session.info.pop(_COMMITTING, None)
        session.info.pop(_LOCKED, None)


@event.listens_for(orm.Session, "after_commit")
def _announce_committed(session: orm.Session) -> None:
    session.info.pop(_LOCKED, None)
    changed = session.info.pop(_COMMITTING, None)
    if not changed:
        return
    for callback in list(_subscribers):
        try:
            callback(session, frozenset(changed))
        except Exception:  # noqa: BLE001 - the commit stands; a subscriber's failure is logged
            log.exception("journal subscriber failed", subscriber=getattr(callback, "__name__", ""))


def lock(session: orm.Session) -> None:
    """Take the journal's advisory lock for the rest of the transaction (once per transaction).

    It must be its own statement: a statement's snapshot is taken when it starts, so only a
    statement that starts after the lock is granted sees every commit made before ours.
    """
    if not session.info.get(_LOCKED):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(JOURNAL_LOCK_KEY)))
        session.info[_LOCKED] = True


def committing_names(session: orm.Session) -> frozenset[str]:
    """Normalized names of the projects that this transaction's journal entries name."""
    return frozenset(session.info.get(_COMMITTING, ()))


# Numbers the entries from max(id) + 1, writes them and moves each named project's
# last_serial, all in one round trip. Data-modifying CTEs run to completion whether or not
# the final SELECT reads them, and all of them see the same snapshot (taken after the lock).
_WRITE_ENTRIES = sa.text(
    """
WITH last AS (SELECT coalesce(max(id), 0) AS serial FROM journals),
entry AS (
    SELECT * FROM unnest(
        CAST(:names AS text[]), CAST(:versions AS text[]), CAST(:actions AS text[]),
        CAST(:submitters AS text[])
    ) WITH ORDINALITY AS e(name, version, action, submitted_by, position)
),
written AS (
    INSERT INTO journals (id, name, version, action, submitted_date, submitted_by)
    SELECT last.serial + entry.position, entry.name, entry.version, entry.action,
           CAST(:now AS timestamptz), entry.submitted_by
    FROM last, entry
),
newest AS (
    SELECT * FROM unnest(CAST(:projects AS text[]), CAST(:positions AS bigint[]))
        AS n(normalized_name, position)
),
moved AS (
    UPDATE projects SET last_serial = last.serial + newest.position
    FROM last, newest
    WHERE projects.normalized_name = newest.normalized_name
)
SELECT serial FROM last
"""
)


@event.listens_for(orm.Session, "before_commit")
def _write_pending(session: orm.Session) -> None:
    entries: list[_Pending] = session.info.pop(_PENDING, None) or []
    if not entries:
        return
    # Anything still pending in the unit of work must be in before we number the entries.
    session.flush()
    lock(session)
    position_by_project: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        position_by_project[canonicalize_name(entry.name)] = position
    last = session.scalar(
        _WRITE_ENTRIES,
        {
            "names": [entry.name for entry in entries],
            "versions": [entry.version for entry in entries],
            "actions": [entry.action for entry in entries],
            "submitters": [entry.submitted_by for entry in entries],
            "now": utcnow(),
            "projects": list(position_by_project),
            "positions": list(position_by_project.values()),
        },
    )
    for watcher in list(_watchers):
        watcher(session, [(entry.name, entry.action) for entry in entries])
    newest_by_project = {name: last + position for name, position in position_by_project.items()}
    session.info.setdefault(_COMMITTING, set()).update(newest_by_project)
    for obj in session.identity_map.values():
        if isinstance(obj, Project) and obj.normalized_name in newest_by_project:
            orm.attributes.set_committed_value(
                obj, "last_serial", newest_by_project[obj.normalized_name]
            )


def last_serial(session: orm.Session) -> int:
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(JournalEntry.id), 0))) or 0
