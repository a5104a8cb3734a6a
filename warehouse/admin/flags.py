"""Admin flags: switches that refuse a kind of write, each with the sentence users see.

Reads come from a per-process copy (:class:`~warehouse.admin.memo.VersionedMemo`), so an
upload pays no query for them; a change reaches every process within about a second.
"""

from __future__ import annotations

import dataclasses
import enum

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse import db
from warehouse.admin.memo import VersionedMemo, bump
from warehouse.admin.models import AdminFlag
from warehouse.db import REDIS_INFO_KEY, utcnow

FLAGS_VERSION_KEY = "admin:flags:version"
REGISTRY_KEY = "admin.flags"


class Flag(enum.StrEnum):
    DISALLOW_NEW_UPLOAD = "disallow-new-upload"
    DISALLOW_NEW_PROJECT_REGISTRATION = "disallow-new-project-registration"
    DISALLOW_NEW_USER_REGISTRATION = "disallow-new-user-registration"
    DISALLOW_DELETION = "disallow-deletion"
    READ_ONLY = "read-only"


# What users are told when an operator turns a flag on without a message of their own.
DEFAULT_MESSAGES = {
    Flag.DISALLOW_NEW_UPLOAD: (
        "New uploads are temporarily disabled. See the index's status page for more information."
    ),
    Flag.DISALLOW_NEW_PROJECT_REGISTRATION: (
        "New project registration is temporarily disabled. "
        "See the index's status page for more information."
    ),
    Flag.DISALLOW_NEW_USER_REGISTRATION: (
        "New user registration is temporarily disabled. "
        "See the index's status page for more information."
    ),
    Flag.DISALLOW_DELETION: (
        "Deleting projects, releases and files is temporarily disabled. "
        "See the index's status page for more information."
    ),
    Flag.READ_ONLY: (
        "The index is in read-only mode for maintenance: downloads and browsing work, "
        "changes are refused. Try again later."
    ),
}

DESCRIPTIONS = {
    Flag.DISALLOW_NEW_UPLOAD: "Refuse every upload.",
    Flag.DISALLOW_NEW_PROJECT_REGISTRATION: "Refuse uploads that would create a new project.",
    Flag.DISALLOW_NEW_USER_REGISTRATION: "Refuse new accounts.",
    Flag.DISALLOW_DELETION: "Refuse deletions of projects, releases and files by their owners.",
    Flag.READ_ONLY: "Answer every write on the site and the upload API with 503.",
}


class UnknownFlag(ValueError):
    pass


def parse_flag(name: str) -> Flag:
    try:
        return Flag(name)
    except ValueError:
        known = ", ".join(flag.value for flag in Flag)
        raise UnknownFlag(f"There is no flag named {name!r}; the flags are: {known}.") from None


@dataclasses.dataclass(frozen=True)
class FlagState:
    flag: Flag
    enabled: bool
    message: str
    updated: object = None
    updated_by: str | None = None

    @property
    def shown_message(self) -> str:
        return self.message or DEFAULT_MESSAGES[self.flag]


def load_states(session: orm.Session) -> dict[Flag, FlagState]:
    rows = {row.id: row for row in session.scalars(sa.select(AdminFlag))}
    states = {}
    for flag in Flag:
        row = rows.get(flag.value)
        states[flag] = FlagState(
            flag,
            bool(row and row.enabled),
            (row.message if row else "") or "",
            row.updated if row else None,
            row.updated_by if row else None,
        )
    return states


def set_flag(
    session: orm.Session, flag: Flag, enabled: bool, message: str | None, by: str
) -> tuple[FlagState, FlagState]:
    """Turn ``flag`` on or off; returns (before, after). Every process hears after commit."""
    before = load_states(session)[flag]
    row = session.get(AdminFlag, flag.value, with_for_update=True)
    if row is None:
        row = AdminFlag(id=flag.value, enabled=False, message="")
        session.add(row)
    row.enabled = enabled
    if message is not None:
        row.message = message.strip()
    row.updated = utcnow()
    row.updated_by = by
    session.flush()
    redis = session.info.get(REDIS_INFO_KEY)
    db.after_commit(session, lambda: bump(redis, FLAGS_VERSION_KEY))
    after = FlagState(flag, row.enabled, row.message, row.updated, row.updated_by)
    return before, after


class FlagReader:
    """The flags as this process last confirmed them (at most ``check_seconds`` old)."""

    def __init__(self, redis, session_factory, **memo_options):
        self.session_factory = session_factory
        self.memo = VersionedMemo(redis, FLAGS_VERSION_KEY, self._load, **memo_options)

    def _load(self) -> dict[Flag, FlagState]:
        with self.session_factory() as session:
            return load_states(session)

    def refusal(self, flag: Flag) -> str | None:
        """The message to refuse with while ``flag`` is on; None while it is off."""
        state = self.memo.get()[flag]
        return state.shown_message if state.enabled else None

    def states(self) -> dict[Flag, FlagState]:
        return self.memo.get()


def flags_of(registry) -> FlagReader:
    return registry[REGISTRY_KEY]


def flag_refusal(request, flag: Flag) -> str | None:
    return flags_of(request.registry).refusal(flag)
