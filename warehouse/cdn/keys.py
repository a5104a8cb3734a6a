"""Surrogate keys: the one table of what a response is tagged with and what a change purges.

Responses name their keys in ``Surrogate-Key`` with the functions below; a committed journal
entry purges the keys :func:`keys_for_entry` derives from its structured data. Keys in use:

* ``project/<normalized>``: everything about one project (its simple page in either format,
  its JSON documents, the 404 page a project that doesn't exist yet answers with);
* ``simple-index``: the ``/simple/`` index, which changes when a project appears or goes;
* ``simple-index-serials``: its JSON form as well, whose ``_last-serial`` of each project
  changes with every journal entry (so mirrors reading it through the CDN see each change);
* ``file/<filename>``: a file and its ``.metadata`` sidecar under ``/packages/``;
* ``stats/<normalized>``: a project's download statistics (pages, CSV, API answers, and the
  JSON API's ``info.downloads``), purged when new counts land rather than by journal entries;
* families, purged only by hand when their rendering changes (a deploy): ``simple`` (every
  simple page and the index) and ``json`` (every JSON document).
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from warehouse.packaging.journal import Action, Entry

SIMPLE_INDEX = "simple-index"
SIMPLE_INDEX_SERIALS = "simple-index-serials"
SIMPLE_FAMILY = "simple"
JSON_FAMILY = "json"
FAMILIES = (SIMPLE_FAMILY, JSON_FAMILY)


def project_key(name: str) -> str:
    return f"project/{canonicalize_name(name)}"


def file_key(filename: str) -> str:
    return f"file/{filename}"


def stats_key(name: str) -> str:
    return f"stats/{canonicalize_name(name)}"


def keys_for_entry(entry: Entry) -> set[str]:
    """The keys a committed journal entry makes stale."""
    keys = {project_key(entry.project), SIMPLE_INDEX_SERIALS}
    if entry.action.changes_index:
        keys.add(SIMPLE_INDEX)
    if entry.action is not Action.ADD_FILE:
        # A file removed (or hidden) must stop being served; an added one was never cached.
        keys.update(file_key(file.filename) for file in entry.files)
    return keys
