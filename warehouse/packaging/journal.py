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

# Called after every commit that wrote journal entries, with the normalized names of the
# projects those entries name. Caches and CDN purges subscribe here, so no code path that
# changes a project can forget to tell them: writing the journal entry is what tells them.
ChangeSubscriber = Callable[[orm.Session, frozenset[str]], None]
_subscribers: list[ChangeSubscriber] = []


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


@event.listens_for(orm.Session, "after_commit")
def _announce_committed(session: orm.Session) -> None:
    changed = session.info.pop(_COMMITTING, None)
    if not changed:
        return
    for callback in list(_subscribers):
        try:
            callback(session, frozenset(changed))
        except Exception:  # noqa: BLE001 - the commit stands; a subscriber's failure is logged
            log.exception("journal subscriber failed", subscriber=getattr(callback, "__name__", ""))


@event.listens_for(orm.Session, "before_commit")
def _write_pending(session: orm.Session) -> None:
    entries: list[_Pending] = session.info.pop(_PENDING, None) or []
    if not entries:
        return
    # Anything still pending in the unit of work must be in before we number the entries.
    session.flush()
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(JOURNAL_LOCK_KEY)))
    last = session.scalar(sa.select(sa.func.coalesce(sa.func.max(JournalEntry.id), 0)))
    now = utcnow()
    newest_by_project: dict[str, int] = {}
    for offset, entry in enumerate(entries, start=1):
        serial = last + offset
        session.add(
            JournalEntry(
                id=serial,
                name=entry.name,
                version=entry.version,
                action=entry.action,
                submitted_by=entry.submitted_by,
                submitted_date=now,
            )
        )
        newest_by_project[canonicalize_name(entry.name)] = serial
    for normalized_name, serial in newest_by_project.items():
        session.execute(
            sa.update(Project)
            .where(Project.normalized_name == normalized_name)
            .values(last_serial=serial)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    session.info["warehouse.journal.last_serial"] = last + len(entries)
    session.info.setdefault(_COMMITTING, set()).update(newest_by_project)
    for obj in session.identity_map.values():
        if isinstance(obj, Project) and obj.normalized_name in newest_by_project:
            orm.attributes.set_committed_value(
                obj, "last_serial", newest_by_project[obj.normalized_name]
            )


def last_serial(session: orm.Session) -> int:
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(JournalEntry.id), 0))) or 0
