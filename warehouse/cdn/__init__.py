"""The CDN: surrogate keys, their purging after a commit, and the purge backends.

Every change to the index writes a journal entry naming its project, so the keys a
transaction makes stale are collected from the journal entries it writes (and from the
files it deletes) by session hooks: no call site has to remember to purge. After the
commit it sends ``purge_keys``, and again a few seconds later for a page a CDN fetched while
the change was committing. The app's own page cache is invalidated by the journal itself
(:func:`warehouse.api.cache.invalidate_journaled_projects`), whose after-commit listener is
registered before this one (``warehouse.tasks`` imports it first), so a CDN refetch after
the purge already gets the new page.

Only sessions made by the app or by a task carry the hook's context (see
:func:`warehouse.tasks.context_of`); a bare session, as in unit tests, purges nothing.
"""

from __future__ import annotations

import structlog
from sqlalchemy import event, orm

from warehouse.cdn.keys import file_key, keys_for_change
from warehouse.packaging import journal
from warehouse.tasks import TaskContext, context_of, transaction_bag

log = structlog.get_logger(__name__)

_KEYS = "warehouse.cdn.keys"


@journal.watch_entries
def _collect_journal_keys(session: orm.Session, entries: list[tuple[str, str]]) -> None:
    keys: set[str] = set()
    for name, action in entries:
        keys |= keys_for_change(name, action)
    _add_keys(session, keys)


@event.listens_for(orm.Session, "before_flush")
def _collect_deleted_file_keys(session: orm.Session, flush_context, instances) -> None:
    if session.deleted:
        from warehouse.storage.cache import deleted_blobs

        _add_keys(session, {file_key(filename) for _, filename in deleted_blobs(session)})


def purge_after_commit(session: orm.Session, keys: set[str]) -> None:
    """Purge ``keys`` too once this transaction commits (with the journal's own keys)."""
    _add_keys(session, keys)


def _add_keys(session: orm.Session, keys: set[str]) -> None:
    ctx = context_of(session)
    if ctx is not None and keys:
        transaction_bag(session, _KEYS, lambda bag: after_change(ctx, bag)).update(keys)


def after_change(ctx: TaskContext, keys: set[str]) -> None:
    """Purge the CDN (now, and once more a little later)."""
    if ctx.settings.cdn_backend == "none":
        return
    from warehouse.cdn.tasks import purge_keys

    keys_list = sorted(keys)
    purge_keys.send_now((keys_list,))
    if ctx.settings.cdn_repurge_seconds > 0:
        purge_keys.send_now((keys_list,), countdown=ctx.settings.cdn_repurge_seconds)


def includeme(config) -> None:
    # The hook above is installed by importing this package; nothing else to set up.
    pass
