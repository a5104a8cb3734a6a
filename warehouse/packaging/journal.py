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
import enum

import sqlalchemy as sa
import structlog
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse.db import utcnow
from warehouse.packaging.models import File, JournalEntry, Project, Release, blob_keys_of

log = structlog.get_logger(__name__)

# An arbitrary constant that names "the journal" among advisory locks.
JOURNAL_LOCK_KEY = 0x6A6F75726E616C  # "journal"
_PENDING = "warehouse.journal.pending"
_LOCKED = "warehouse.journal.locked"


class Action(enum.Enum):
    """What an entry says happened. The value is the text mirrors read (XML-RPC changelog)."""

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
    # A release withheld from installers while a scan's verdict stands, and given back
    # (warehouse.scanning); the entry carries the release's files, which are hidden too.
    HOLD_RELEASE = "hold release"
    UNHOLD_RELEASE = "unhold release"

    @property
    def changes_index(self) -> bool:
        """Whether a name appears in or leaves the ``/simple/`` index."""
        return self in _INDEX_CHANGES

    @property
    def removes_files(self) -> bool:
        """Whether the entry's files are gone for good (their blobs may be deleted)."""
        return self in _FILE_REMOVALS


_INDEX_CHANGES = frozenset(
    {
        Action.CREATE_PROJECT,
        Action.REMOVE_PROJECT,
        Action.RENAME_PROJECT,
        Action.RENAME_PROJECT_TO,
        Action.QUARANTINE_ENTER,
        Action.QUARANTINE_EXIT,
    }
)
_FILE_REMOVALS = frozenset({Action.REMOVE_FILE, Action.REMOVE_RELEASE, Action.REMOVE_PROJECT})


@dataclasses.dataclass(frozen=True)
class FileRef:
    """A file an entry adds or removes, as the reactions need it once the row may be gone."""

    id: int
    filename: str
    blob_keys: tuple[str, ...]

    @classmethod
    def of(cls, file: File) -> FileRef:
        return cls(file.id, file.filename, file.blob_keys())

    @classmethod
    def all_of_project(cls, session: orm.Session, project_id: int) -> tuple[FileRef, ...]:
        """Every file of the project, in one query that loads no objects."""
        rows = session.execute(
            sa.select(File.id, File.filename, File.path, File.metadata_sha256)
            .join(Release, File.release_id == Release.id)
            .where(Release.project_id == project_id)
        ).all()
        return tuple(
            cls(row.id, row.filename, blob_keys_of(row.path, row.metadata_sha256)) for row in rows
        )


@dataclasses.dataclass(frozen=True)
class Entry:
    """One journal entry, structured: what reactions to the commit are fed."""

    project: str  # the project's name as written in the entry
    action: Action
    text: str
    version: str | None = None
    submitted_by: str | None = None
    # The files the entry adds (ADD_FILE), removes (see Action.removes_files) or hides.
    files: tuple[FileRef, ...] = ()

    @property
    def normalized_name(self) -> str:
        return canonicalize_name(self.project)


def record(
    session: orm.Session,
    name: str,
    action: Action,
    *,
    version: str | None = None,
    submitted_by: str | None = None,
    files: tuple[FileRef, ...] = (),
    **details: str,
) -> None:
    """Add a journal entry about project ``name``; it is written when the session commits.

    ``details`` fill the action's text (``filename=``, ``role=``, ...).
    """
    if not session.in_transaction():
        # Tie the entry to a transaction, so that a rollback discards it.
        session.begin()
    entry = Entry(name, action, action.value.format(**details), version, submitted_by, files)
    session.info.setdefault(_PENDING, []).append(entry)


def pending(session: orm.Session) -> list[Entry]:
    return list(session.info.get(_PENDING, ()))


def forget(session: orm.Session) -> None:
    """Drop what a transaction that did not commit had recorded."""
    session.info.pop(_PENDING, None)
    session.info.pop(_LOCKED, None)


def lock(session: orm.Session) -> None:
    """Take the journal's advisory lock for the rest of the transaction (once per transaction).

    It must be its own statement: a statement's snapshot is taken when it starts, so only a
    statement that starts after the lock is granted sees every commit made before ours.
    """
    if not session.info.get(_LOCKED):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(JOURNAL_LOCK_KEY)))
        session.info[_LOCKED] = True


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


def write_pending(session: orm.Session) -> list[Entry]:
    """Number and write the entries recorded in this transaction (just before it commits)."""
    entries: list[Entry] = session.info.pop(_PENDING, None) or []
    if not entries:
        return []
    # Anything still pending in the unit of work must be in before we number the entries.
    session.flush()
    lock(session)
    position_by_project: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        position_by_project[entry.normalized_name] = position
    last = session.scalar(
        _WRITE_ENTRIES,
        {
            "names": [entry.project for entry in entries],
            "versions": [entry.version for entry in entries],
            "actions": [entry.text for entry in entries],
            "submitters": [entry.submitted_by for entry in entries],
            "now": utcnow(),
            "projects": list(position_by_project),
            "positions": list(position_by_project.values()),
        },
    )
    newest_by_project = {name: last + position for name, position in position_by_project.items()}
    for obj in session.identity_map.values():
        if isinstance(obj, Project) and obj.normalized_name in newest_by_project:
            orm.attributes.set_committed_value(
                obj, "last_serial", newest_by_project[obj.normalized_name]
            )
    return entries


def released(session: orm.Session) -> None:
    """The transaction is over: its advisory lock is gone with it."""
    session.info.pop(_LOCKED, None)


def last_serial(session: orm.Session) -> int:
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(JournalEntry.id), 0))) or 0
