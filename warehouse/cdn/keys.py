"""Surrogate keys: what a response is tagged with, and what a change purges.

Responses name their keys in ``Surrogate-Key``; a change purges the keys below, which it
derives from its journal entries (every change writes one, naming the project), plus the
files it deletes. Keys in use:

* ``project/<normalized>``: everything about one project (its simple page in either format,
  its JSON documents, the 404 page a project that doesn't exist yet answers with);
* ``simple-index``: the ``/simple/`` index, which changes when a project appears or goes;
* ``file/<filename>``: a file and its ``.metadata`` sidecar under ``/packages/``;
* families, purged only by hand when their rendering changes (a deploy): ``simple`` (every
  simple page and the index) and ``json`` (every JSON document).
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from warehouse.packaging.journal import Action

SIMPLE_INDEX = "simple-index"
FAMILIES = ("simple", "json")


def project_key(name: str) -> str:
    return f"project/{canonicalize_name(name)}"


def file_key(filename: str) -> str:
    return f"file/{filename}"


def _prefix(template: str) -> str:
    return template.split("{", 1)[0]


# Actions that add or remove a name from the index, by the start of their text.
_INDEX_CHANGES = tuple(
    _prefix(action)
    for action in (
        Action.CREATE_PROJECT,
        Action.REMOVE_PROJECT,
        Action.RENAME_PROJECT,
        Action.RENAME_PROJECT_TO,
        Action.QUARANTINE_ENTER,
        Action.QUARANTINE_EXIT,
    )
)
_REMOVE_FILE = _prefix(Action.REMOVE_FILE)


def keys_for_change(name: str, action: str) -> set[str]:
    """The keys a journal entry ``(name, action)`` makes stale."""
    keys = {project_key(name)}
    if action.startswith(_INDEX_CHANGES):
        keys.add(SIMPLE_INDEX)
    if action.startswith(_REMOVE_FILE):
        keys.add(file_key(action[len(_REMOVE_FILE) :]))
    return keys
