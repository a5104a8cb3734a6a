"""The change feed: journal entries after a serial, a page at a time.

Serials are gap-free and appear in order (see :mod:`warehouse.packaging.journal`): once a
reader has seen serial N, no entry with a serial below N can appear later. So "everything
after the last serial I saw" is a complete, exact cursor.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse.api.common import iso_utc
from warehouse.packaging import journal
from warehouse.packaging.models import JournalEntry

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


@dataclasses.dataclass(frozen=True)
class Page:
    changes: list[dict]
    # The newest serial when the page was read (>= every serial in ``changes``).
    last_serial: int

    @property
    def cursor(self) -> int | None:
        """The ``since`` for the next page; None when this page is empty."""
        return self.changes[-1]["serial"] if self.changes else None


def read_page(session: orm.Session, since: int, limit: int) -> Page:
    """Up to ``limit`` changes after ``since``, oldest first.

    Run it in one snapshot (REPEATABLE READ), so ``last_serial`` and the page agree.
    """
    last_serial = journal.last_serial(session)
    entries = session.execute(
        sa.select(
            JournalEntry.id,
            JournalEntry.name,
            JournalEntry.version,
            JournalEntry.action,
            JournalEntry.submitted_date,
            JournalEntry.submitted_by,
        )
        .where(JournalEntry.id > since)
        .order_by(JournalEntry.id)
        .limit(limit)
    )
    return Page([_change(e) for e in entries], last_serial)


def _change(entry) -> dict:
    return {
        "serial": entry.id,
        "project": entry.name,
        "normalized_project": canonicalize_name(entry.name),
        "version": entry.version,
        "action": entry.action,
        "submitted_at": iso_utc(entry.submitted_date),
        "submitted_by": entry.submitted_by,
    }
